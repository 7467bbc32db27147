//! Typed OVSDB values (RFC 7047 §5.1): atoms, sets, maps, uuids and named uuids, and
//! their JSON encoding in both directions. Pure: no I/O.

use serde_json::{json, Value as Json};

/// One OVSDB atom.
#[derive(Clone, Debug, PartialEq)]
pub enum Atom {
    /// An integer.
    Int(i64),
    /// A real number.
    Real(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
    /// A row's uuid (`["uuid", "..."]`).
    Uuid(String),
    /// A row inserted earlier in the same transaction (`["named-uuid", "..."]`).
    NamedUuid(String),
}

impl Atom {
    /// The atom's JSON encoding.
    pub fn to_json(&self) -> Json {
        match self {
            Atom::Int(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Bool(b) => json!(b),
            Atom::Str(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    /// Decodes an atom; `None` when `json` is not one.
    pub fn from_json(json: &Json) -> Option<Atom> {
        match json {
            Json::Bool(b) => Some(Atom::Bool(*b)),
            Json::String(s) => Some(Atom::Str(s.clone())),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Some(Atom::Int(i)),
                None => n.as_f64().map(Atom::Real),
            },
            Json::Array(items) => match items.as_slice() {
                [Json::String(tag), Json::String(id)] if tag == "uuid" => {
                    Some(Atom::Uuid(id.clone()))
                }
                [Json::String(tag), Json::String(id)] if tag == "named-uuid" => {
                    Some(Atom::NamedUuid(id.clone()))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The string, when this is a string atom.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, when this is an integer atom.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Atom::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The uuid, when this is a uuid atom.
    pub fn as_uuid(&self) -> Option<&str> {
        match self {
            Atom::Uuid(u) => Some(u),
            _ => None,
        }
    }
}

/// One column value: a set of atoms or a map of atom pairs.
///
/// A scalar column is a set of exactly one atom; an optional column is a set of zero or
/// one. Sets are written as `["set", [...]]` except a single atom, which OVSDB also
/// accepts (and sends) bare.
#[derive(Clone, Debug, PartialEq)]
pub enum Datum {
    /// A set (a scalar is a set of one).
    Set(Vec<Atom>),
    /// A map, in the order given.
    Map(Vec<(Atom, Atom)>),
}

impl Datum {
    /// A datum holding one atom.
    pub fn atom(atom: Atom) -> Datum {
        Datum::Set(vec![atom])
    }

    /// The empty set.
    pub fn empty() -> Datum {
        Datum::Set(Vec::new())
    }

    /// A set of uuids.
    pub fn uuids<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Datum {
        Datum::Set(ids.into_iter().map(|u| Atom::Uuid(u.into())).collect())
    }

    /// A map of strings to strings.
    pub fn str_map<'a, I: IntoIterator<Item = (&'a str, &'a str)>>(entries: I) -> Datum {
        Datum::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Atom::Str(k.into()), Atom::Str(v.into())))
                .collect(),
        )
    }

    /// The datum's JSON encoding (a one-atom set is sent bare).
    pub fn to_json(&self) -> Json {
        match self {
            Datum::Set(atoms) if atoms.len() == 1 => atoms[0].to_json(),
            Datum::Set(atoms) => {
                json!(["set", atoms.iter().map(Atom::to_json).collect::<Vec<_>>()])
            }
            Datum::Map(pairs) => {
                let pairs: Vec<Json> = pairs
                    .iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect();
                json!(["map", pairs])
            }
        }
    }

    /// Decodes a datum; `None` when `json` is not one.
    pub fn from_json(json: &Json) -> Option<Datum> {
        if let Json::Array(items) = json {
            match items.as_slice() {
                [Json::String(tag), Json::Array(atoms)] if tag == "set" => {
                    let atoms: Option<Vec<Atom>> = atoms.iter().map(Atom::from_json).collect();
                    return atoms.map(Datum::Set);
                }
                [Json::String(tag), Json::Array(pairs)] if tag == "map" => {
                    return pairs
                        .iter()
                        .map(pair_from_json)
                        .collect::<Option<_>>()
                        .map(Datum::Map);
                }
                _ => {}
            }
        }
        Atom::from_json(json).map(Datum::atom)
    }

    /// The atoms of a set (empty for a map).
    pub fn atoms(&self) -> &[Atom] {
        match self {
            Datum::Set(atoms) => atoms,
            Datum::Map(_) => &[],
        }
    }

    /// The pairs of a map (empty for a set; an empty map may decode as an empty set).
    pub fn pairs(&self) -> &[(Atom, Atom)] {
        match self {
            Datum::Map(pairs) => pairs,
            Datum::Set(_) => &[],
        }
    }

    /// The single atom of a one-element set.
    pub fn single(&self) -> Option<&Atom> {
        match self.atoms() {
            [atom] => Some(atom),
            _ => None,
        }
    }
}

fn pair_from_json(json: &Json) -> Option<(Atom, Atom)> {
    match json.as_array()?.as_slice() {
        [k, v] => Some((Atom::from_json(k)?, Atom::from_json(v)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_element_set_is_sent_bare_and_read_either_way() {
        let d = Datum::atom(Atom::Int(10));
        assert_eq!(d.to_json(), json!(10));
        assert_eq!(Datum::from_json(&json!(["set", [10]])), Some(d.clone()));
        assert_eq!(Datum::from_json(&json!(10)), Some(d));
    }

    #[test]
    fn sets_maps_and_uuids_round_trip() {
        let cases = [
            Datum::Set(vec![Atom::Int(10), Atom::Int(20)]),
            Datum::empty(),
            Datum::str_map([("remote_ip", "198.18.0.2"), ("key", "5001")]),
            Datum::uuids(["0b5c7c2e-3f7e-4d8e-9b8a-1c2d3e4f5a6b"]),
            Datum::atom(Atom::NamedUuid("row1".into())),
            Datum::atom(Atom::Bool(true)),
        ];
        for d in cases {
            assert_eq!(Datum::from_json(&d.to_json()), Some(d.clone()), "{d:?}");
        }
        assert_eq!(
            Datum::str_map([("a", "b")]).to_json(),
            json!(["map", [["a", "b"]]])
        );
        assert_eq!(
            Datum::Set(vec![Atom::Uuid("u1".into()), Atom::NamedUuid("n".into())]).to_json(),
            json!(["set", [["uuid", "u1"], ["named-uuid", "n"]]])
        );
    }

    #[test]
    fn malformed_values_are_rejected() {
        assert_eq!(Datum::from_json(&json!(null)), None);
        assert_eq!(Datum::from_json(&json!(["map", [["a"]]])), None);
        assert_eq!(Datum::from_json(&json!(["set", [null]])), None);
        assert_eq!(Datum::from_json(&json!({"a": 1})), None);
    }
}

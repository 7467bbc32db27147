//! A process's name and run state, read in one go from `/proc/PID/stat`: the lab's
//! daemon and agent supervision and the agent's dnsmasq supervision ask "is this pid
//! still that program, and not a zombie?". One read matters: reading the name from
//! `/proc/PID/comm` and the state from `stat` separately let a process that exec'd in
//! between (`ip netns exec` becoming the agent) look dead for an instant.

/// What `/proc/PID/stat` says of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessState {
    /// The command name (`comm`, at most 15 bytes).
    pub name: String,
    /// The one-letter state (`R`, `S`, `Z`, ...).
    pub state: char,
}

impl ProcessState {
    /// Running or sleeping: not a zombie and not dead.
    pub fn live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }
}

/// The name and state of `pid`, or `None` when there is no such process.
pub fn process_state(pid: u32) -> Option<ProcessState> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// `PID (NAME) STATE ...`: the name may hold spaces and parentheses, so it runs from the
/// first `(` to the last `)`.
fn parse_stat(stat: &str) -> Option<ProcessState> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let state = stat.get(close + 1..)?.trim_start().chars().next()?;
    Some(ProcessState { name, state })
}

/// Whether `pid` is a live process (not a zombie) whose command name is `name`.
pub fn live_named(pid: u32, name: &str) -> bool {
    process_state(pid).is_some_and(|p| p.live() && p.name == name)
}

/// Whether `pid` is a live process (not a zombie), whatever its name.
pub fn live(pid: u32) -> bool {
    process_state(pid).is_some_and(|p| p.live())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_spaces_and_parentheses_is_read_whole() {
        let p = parse_stat("42 (a (b) c) S 1 42 42 0 -1").unwrap();
        assert_eq!(p.name, "a (b) c");
        assert_eq!(p.state, 'S');
        assert!(p.live());
        assert!(!parse_stat("42 (dnsmasq) Z 1").unwrap().live());
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_live_and_a_pid_that_cannot_exist_is_not() {
        assert!(live(std::process::id()));
        assert!(!live(u32::MAX));
        assert!(!live_named(std::process::id(), "no-such-program"));
    }
}

//! The topology file's own change as a unified diff, in a collapsible markdown section
//! (`ovsnet diff --format markdown`), so a reviewer sees the YAML change next to what it
//! does to the hosts. Pure: given both texts and the names to show, returns the section.
//! It never decides whether the comment has room for it: the markdown renderer does.

use similar::{ChangeTag, TextDiff};
use std::fmt::Write as _;

/// Lines of context around each change, as `diff -u` and git show them.
const CONTEXT: usize = 3;

/// The section, at most about `budget` bytes: a diff that does not fit is cut at a line
/// and says so. An unchanged file gets one line instead of a section.
pub fn section(base_name: &str, base: &str, head_name: &str, head: &str, budget: usize) -> String {
    if base == head {
        return "\nThe topology file itself did not change.\n".to_string();
    }
    let diff = TextDiff::from_lines(base, head);
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    let text = diff
        .unified_diff()
        .context_radius(CONTEXT)
        .header(base_name, head_name)
        .to_string();
    let fence = fence_for(&text);
    let summary = format!(
        "\n<details><summary>Topology file change: {added} {} added, {removed} removed</summary>\n\n{fence}diff\n",
        if added == 1 { "line" } else { "lines" },
    );
    let closing = format!("{fence}\n\n</details>\n");
    let room = budget.saturating_sub(summary.len() + closing.len() + CUT_NOTE_ROOM);
    let (shown, cut) = cut_at_line(&text, room);
    let mut s = summary;
    s.push_str(shown);
    if !shown.is_empty() && !shown.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&closing);
    if cut > 0 {
        let total = text.lines().count();
        let _ = writeln!(
            s,
            "\nThe diff was cut after {} of its {total} lines to fit the comment; the pull request's own diff has all of it.",
            total - cut
        );
    }
    s
}

/// Room kept for the cut note.
const CUT_NOTE_ROOM: usize = 160;

/// A backtick fence longer than any run of backticks in `text`, so a YAML comment
/// holding a fence cannot close ours early.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

/// The longest prefix of whole lines within `room` bytes, and how many lines were left out.
fn cut_at_line(text: &str, room: usize) -> (&str, usize) {
    if text.len() <= room {
        return (text, 0);
    }
    let end = text[..room].rfind('\n').map_or(0, |i| i + 1);
    (&text[..end], text[end..].lines().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "version: 1\ncluster: demo\nvlans:\n  - name: web\n    id: 10\n";

    #[test]
    fn a_change_is_a_unified_diff_with_its_counts() {
        let head = BASE.replace("id: 10", "id: 11") + "  - name: db\n";
        let s = section("a.yaml", BASE, "b.yaml", &head, 10_000);
        assert!(
            s.contains("<summary>Topology file change: 2 lines added, 1 removed</summary>"),
            "{s}"
        );
        assert!(
            s.contains("```diff\n--- a.yaml\n+++ b.yaml\n@@ -2,4 +2,5 @@\n"),
            "{s}"
        );
        assert!(
            s.contains("\n-    id: 10\n+    id: 11\n+  - name: db\n```\n\n</details>\n"),
            "{s}"
        );
    }

    #[test]
    fn an_unchanged_file_is_one_line() {
        assert_eq!(
            section("a", BASE, "b", BASE, 10_000),
            "\nThe topology file itself did not change.\n"
        );
    }

    #[test]
    fn a_fence_in_the_yaml_cannot_close_the_section() {
        let head = format!("{BASE}# ````` a comment\n");
        let s = section("a", BASE, "b", &head, 10_000);
        assert!(s.contains("\n``````diff\n"), "{s}");
        assert!(s.contains("\n``````\n\n</details>"), "{s}");
    }

    #[test]
    fn a_long_diff_is_cut_at_a_line_and_says_so() {
        let head: String = (0..1000).map(|i| format!("# line {i}\n")).collect();
        let s = section("a", BASE, "b", &head, 2_000);
        assert!(s.len() <= 2_000, "{}", s.len());
        assert!(s.contains("\n```\n\n</details>\n"), "{s}");
        assert!(s.contains("The diff was cut after "), "{s}");
        let fenced = s
            .split("```diff\n")
            .nth(1)
            .and_then(|r| r.split("\n```").next());
        assert!(fenced.is_some_and(|f| f.lines().all(|l| l.starts_with(['+', '-', ' ', '@']))));
    }
}

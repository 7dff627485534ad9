//! Bounds on documents that cross the protocol inside a profile (the profile's own
//! YAML, the files shipped with it), checked before any parser sees them: a YAML
//! parser takes time and stack in proportion to nesting, so a small hostile file
//! could otherwise stall whoever reads it.

/// The deepest nesting a profile or a shipped YAML file may have. Real profiles
/// and compose files stay under ten.
pub const MAX_YAML_NESTING: usize = 64;

/// How deeply a YAML (or JSON) document nests, and the 1-based line where that
/// depth is first reached. Counts flow collections (`[`, `{`) outside quotes and
/// comments, block collections by indentation, and `- ` items opened on one line;
/// the contents of block scalars (`|`, `>`) are text and do not count. An
/// approximation meant to bound parsers, not to parse: it never undercounts a
/// nesting a parser would build.
pub fn yaml_nesting(text: &str) -> (usize, usize) {
    let mut deepest = (0, 0);
    let mut flow = 0usize;
    let mut block: Vec<usize> = Vec::new();
    let mut in_scalar_above: Option<usize> = None;
    for (number, line) in text.lines().enumerate() {
        let content = line.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let Some(parent) = in_scalar_above {
            if indent > parent {
                continue;
            }
            in_scalar_above = None;
        }
        let mut depth = flow;
        if flow == 0 {
            while block.last().is_some_and(|&top| top >= indent) {
                block.pop();
            }
            block.push(indent);
            let mut rest = content;
            let mut items = 0;
            while let Some(r) = rest.strip_prefix("- ") {
                items += 1;
                rest = r.trim_start();
            }
            depth = block.len() + items;
        }
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        for c in content.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') if matches!(previous, ' ' | '[' | '{' | ',' | ':') => {
                    quote = Some(c)
                }
                (None, '#') if previous == ' ' => break,
                (None, '[' | '{') => {
                    flow += 1;
                    depth = depth.max(block.len() + flow);
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
        if depth > deepest.0 {
            deepest = (depth, number + 1);
        }
        let opens_scalar = content
            .rsplit(' ')
            .next()
            .is_some_and(|last| last.starts_with(['|', '>']) && last.len() <= 3);
        if flow == 0 && opens_scalar {
            in_scalar_above = Some(indent);
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_are_shallow() {
        let compose = "services:\n  web:\n    image: x\n    command: [\"sh\", \"-c\", \"echo [x]\"]\n    ports:\n      - \"8080:80\"\nnetworks: {a: {}}\n";
        let (depth, _) = yaml_nesting(compose);
        assert!((4..=6).contains(&depth), "{depth}");
    }

    #[test]
    fn flow_and_block_nesting_are_counted_with_their_line() {
        let deep_flow = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(yaml_nesting(&deep_flow), (101, 1));
        let mut deep_block = String::from("x: 1\n");
        for i in 0..80 {
            deep_block += &format!("{}k{i}:\n", " ".repeat(i));
        }
        let (depth, line) = yaml_nesting(&deep_block);
        assert_eq!(depth, 80);
        assert_eq!(line, 81);
        assert_eq!(yaml_nesting(&"- ".repeat(70)).0, 70);
    }

    #[test]
    fn quotes_comments_and_block_scalars_do_not_count() {
        let text = format!(
            "a: \"{}\"\nb: '{}' # {}\nc: |\n  {}\n    {}\nd: 1\n",
            "[".repeat(90),
            "{".repeat(90),
            "[".repeat(90),
            "[".repeat(90),
            "{".repeat(90)
        );
        assert_eq!(yaml_nesting(&text).0, 1);
    }
}

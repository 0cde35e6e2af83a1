//! The README's Rust examples run as doctests (`ReadmeDoctests` in
//! `src/lib.rs`); this checks that they compile as shown: no hidden `# `
//! lines that a reader copying them would not see.

#[test]
fn readme_examples_have_no_hidden_lines() {
    let readme = include_str!("../README.md");
    let mut in_rust = false;
    let mut blocks = 0;
    for (n, line) in readme.lines().enumerate() {
        if line.starts_with("```") {
            in_rust = !in_rust && line.starts_with("```rust");
            blocks += usize::from(in_rust);
        } else if in_rust {
            let hidden = line.trim_start() == "#" || line.trim_start().starts_with("# ");
            assert!(
                !hidden,
                "README.md:{}: a hidden doctest line: {line}",
                n + 1
            );
        }
    }
    assert!(blocks >= 4, "README.md has {blocks} Rust examples");
}

#[test]
fn readme_c_example_is_cut_from_the_c_example() {
    // The C block is not compiled on its own: each of its lines must be a
    // line of examples/c/main.c (which CI builds and runs), in order.
    let readme = include_str!("../README.md");
    let program: Vec<&str> = include_str!("../examples/c/main.c")
        .lines()
        .map(str::trim)
        .collect();
    let start = readme.find("```c\n").expect("README.md has a C example") + 5;
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let mut at = 0;
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match program[at..].iter().position(|p| *p == line) {
            Some(i) => at += i + 1,
            None => {
                panic!("README.md's C line is not in examples/c/main.c (after line {at}): {line}")
            }
        }
    }
}

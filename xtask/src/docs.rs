//! `cargo xtask docs`: the documentation site. mdBook renders docs/*.md (with the
//! top-level README and CHANGELOG) from a book source generated under target/, rustdoc
//! adds the Rust API under `rust/`, and every relative link of the result is checked.
//!
//! The book source is generated rather than kept in docs/ so that docs/ stays plain
//! Markdown that reads well on GitHub: its links point at `../README.md` and the like,
//! which the book does not have at those places.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::workspace::{find_program, run, Workspace};
use crate::Result;

/// Where links to files that are not pages of the book go (source files, LICENSE).
const REPOSITORY: &str = "https://github.com/copas-rs/copas-rs";

/// The library crates whose rustdoc the site carries, as `cargo -p` names them.
const RUST_CRATES: &[&str] = &[
    "luasocket-core",
    "copas-sched",
    "copas-tls",
    "copas-clients",
    "copas-lua",
];

/// The table of contents: parts, each with the docs/ files it holds, in reading
/// order. A docs/*.md file missing here still gets a page, under "Other pages", so
/// that a new document is never left out of the site.
const PARTS: &[(&str, &[&str])] = &[
    (
        "Using copas-rs",
        &[
            "docs/README.md",
            "docs/copas.md",
            "docs/clients.md",
            "docs/tls.md",
            "docs/operations.md",
            "docs/observability.md",
            "docs/testing.md",
            "docs/platforms.md",
            "docs/rust.md",
        ],
    ),
    (
        "Lua API reference",
        &[
            "docs/api-socket.md",
            "docs/api-ltn12-mime-url.md",
            "docs/api-clients.md",
            "docs/api-ssl.md",
            "docs/api-copas.md",
        ],
    ),
    (
        "How it differs, module by module",
        &[
            "docs/socket.md",
            "docs/socket-objects.md",
            "docs/ltn12-mime-url.md",
            "docs/copas-submodules.md",
        ],
    ),
    (
        "Developing",
        &[
            "docs/DEVELOPING.md",
            "docs/ARCHITECTURE.md",
            "docs/CONFORMANCE.md",
            "docs/PERFORMANCE.md",
            "docs/RELIABILITY.md",
        ],
    ),
];

/// The reference pages are four-column tables: mdBook's default column of 750 px
/// squeezes them into a narrow strip, so the text column is widened.
const CSS: &str = "\
:root { --content-max-width: 1150px; }
table { font-size: 0.92em; }
table td:first-child { min-width: 15em; }
";
const CSS_FILE: &str = "copas-rs.css";

/// The page the rustdoc link lives on; generated, not a file of docs/.
const RUST_PAGE: &str = "rust-api.md";

struct Options {
    rust: bool,
    out: Option<PathBuf>,
}

pub(crate) fn command(args: &[String]) -> Result {
    let mut options = Options {
        rust: true,
        out: None,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--no-rust" => options.rust = false,
            "--out" => {
                let dir = rest.next().ok_or("--out needs a directory")?;
                options.out = Some(std::env::current_dir()?.join(dir));
            }
            other => {
                return Err(format!(
                    "unknown argument '{other}'\nusage: cargo xtask docs [--no-rust] [--out DIR]"
                )
                .into())
            }
        }
    }
    let ws = Workspace::locate()?;
    let mdbook = mdbook()?;
    let site = options
        .out
        .clone()
        .unwrap_or_else(|| ws.target.join("docs-site"));
    build(
        &ws,
        &mdbook,
        &ws.target.join("docs-book"),
        &site,
        options.rust,
    )?;
    println!("documentation site: {}", site.join("index.html").display());
    Ok(())
}

/// mdBook on PATH, or in cargo's bin directory where `cargo install` puts it.
pub(crate) fn mdbook() -> Result<PathBuf> {
    if let Some(found) = find_program("mdbook") {
        return Ok(found);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    if let Some(candidate) = cargo_home.map(|home| home.join("bin").join("mdbook")) {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(
        "mdbook not found on PATH or in ~/.cargo/bin; `cargo xtask docs` needs mdBook 0.4 \
         or newer: install it with `cargo install mdbook --locked` (Debian 12 has no package)"
            .into(),
    )
}

/// Generates the book source in `book`, renders it into `site`, adds the rustdoc of
/// the library crates under `site/rust/` when `rust` is set, and checks every link.
pub(crate) fn build(ws: &Workspace, mdbook: &Path, book: &Path, site: &Path, rust: bool) -> Result {
    let src = book.join("src");
    if book.exists() {
        fs::remove_dir_all(book)?;
    }
    fs::create_dir_all(&src)?;
    let pages = pages(&ws.root)?;
    for page in &pages {
        let text = fs::read_to_string(ws.root.join(&page.source))?;
        let text = rewrite_links(&text, &page.source, &pages);
        fs::write(src.join(&page.book_name), text)?;
    }
    fs::write(src.join(RUST_PAGE), rust_page(rust))?;
    fs::write(book.join(CSS_FILE), CSS)?;
    fs::write(src.join("SUMMARY.md"), summary(&pages))?;
    fs::write(
        book.join("book.toml"),
        format!(
            "[book]\ntitle = \"copas-rs\"\nlanguage = \"en\"\nsrc = \"src\"\n\n\
             [build]\ncreate-missing = false\n\n\
             [output.html]\ngit-repository-url = \"{REPOSITORY}\"\n\
             additional-css = [\"{CSS_FILE}\"]\n"
        ),
    )?;

    if site.exists() {
        fs::remove_dir_all(site)?;
    }
    let mut command = Command::new(mdbook);
    command.arg("build").arg(book).arg("--dest-dir").arg(site);
    run(command)?;

    if rust {
        let mut command = ws.cargo();
        command.args(["doc", "--no-deps", "--lib"]);
        // A broken intra-doc link is a broken link of the site, as in the Markdown.
        command.env(
            "RUSTDOCFLAGS",
            "-D rustdoc::broken_intra_doc_links -D rustdoc::private_intra_doc_links",
        );
        for name in RUST_CRATES {
            command.args(["-p", name]);
        }
        run(command)?;
        copy_dir(&ws.target.join("doc"), &site.join("rust"))?;
    }

    let broken = check_links(site)?;
    if !broken.is_empty() {
        return Err(format!(
            "{} broken link(s) in {}:\n  {}",
            broken.len(),
            site.display(),
            broken.join("\n  ")
        )
        .into());
    }
    Ok(())
}

/// One Markdown file of the repository as a page of the book.
#[derive(Debug)]
struct Page {
    /// Relative to the workspace root, `/`-separated.
    source: String,
    /// File name inside the book source (flat: every page at the top).
    book_name: String,
    title: String,
}

/// The README (the book's first page), the CHANGELOG and every docs/*.md.
fn pages(root: &Path) -> Result<Vec<Page>> {
    let mut sources = vec!["README.md".to_owned(), "CHANGELOG.md".to_owned()];
    let mut docs: Vec<String> = fs::read_dir(root.join("docs"))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    sources.extend(docs);
    sources
        .into_iter()
        .map(|source| {
            let text = fs::read_to_string(root.join(&source))
                .map_err(|e| format!("cannot read {source}: {e}"))?;
            let title = text
                .lines()
                .find_map(|line| line.strip_prefix("# "))
                .map(|title| title.trim().to_owned())
                .unwrap_or_else(|| source.clone());
            let book_name = match source.as_str() {
                // The first page. Not README.md, which mdBook renders as index.html
                // while links to it still say README.html.
                "README.md" => "index.md".to_owned(),
                "docs/README.md" => "documents.md".to_owned(),
                other => other.trim_start_matches("docs/").to_owned(),
            };
            Ok(Page {
                source,
                book_name,
                title,
            })
        })
        .collect()
}

fn summary(pages: &[Page]) -> String {
    let by_source: BTreeMap<&str, &Page> = pages.iter().map(|p| (p.source.as_str(), p)).collect();
    let entry = |page: &Page| format!("- [{}]({})\n", escape_title(&page.title), page.book_name);
    let mut out = String::from("# Summary\n\n");
    let first = by_source["README.md"];
    out += &format!("[{}]({})\n\n", escape_title(&first.title), first.book_name);
    let mut placed: Vec<&str> = vec!["README.md", "CHANGELOG.md"];
    for (part, files) in PARTS {
        out += &format!("# {part}\n\n");
        for file in *files {
            if let Some(page) = by_source.get(file) {
                out += &entry(page);
                placed.push(file);
            }
        }
        if *part == "Developing" {
            out += &format!("- [Rust API documentation]({RUST_PAGE})\n");
        }
        out += "\n";
    }
    let others: Vec<&Page> = pages
        .iter()
        .filter(|page| !placed.contains(&page.source.as_str()))
        .collect();
    if !others.is_empty() {
        out += "# Other pages\n\n";
        for page in others {
            out += &entry(page);
        }
        out += "\n";
    }
    out += "---\n\n";
    out += &format!(
        "[{}](CHANGELOG.md)\n",
        escape_title(&by_source["CHANGELOG.md"].title)
    );
    out
}

/// Titles are link texts in SUMMARY.md; backticks stay, brackets would end the text.
fn escape_title(title: &str) -> String {
    title.replace('[', "\\[").replace(']', "\\]")
}

fn rust_page(rust: bool) -> String {
    let mut out = String::from("# Rust API documentation\n\n");
    if !rust {
        out += "This build of the site was made with `cargo xtask docs --no-rust`: \
                the Rust API documentation is not included. `cargo xtask docs` adds it.\n";
        return out;
    }
    out += "The rustdoc of the library crates (`cargo doc --no-deps`), built with this site:\n\n";
    let lines = [
        (
            "luasocket-core",
            "the sockets, DNS, MIME, URL and LTN12 logic, plain Rust",
        ),
        (
            "copas-sched",
            "the scheduler: run queue, timers, epoll reactor, worker threads",
        ),
        (
            "copas-tls",
            "TLS on rustls for the sockets of luasocket-core",
        ),
        ("copas-clients", "the HTTP, FTP and SMTP protocol logic"),
        (
            "copas-lua",
            "the Lua binding: the loadable modules and the `copas` runner",
        ),
    ];
    for (name, what) in lines {
        let dir = name.replace('-', "_");
        out += &format!("- [`{name}`](rust/{dir}/index.html): {what}\n");
    }
    out
}

/// Points the relative links of a page taken from `source` at their place in the
/// book: links to other pages by their book name, links to any other file of the
/// repository at the repository's web view. Fenced code is left alone.
fn rewrite_links(text: &str, source: &str, pages: &[Page]) -> String {
    let base = Path::new(source).parent().unwrap_or(Path::new(""));
    let mut out = String::with_capacity(text.len());
    let mut fenced = false;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            out += line;
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            out += &rest[..at + 2];
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            out += &rewrite_target(&rest[..end], base, pages);
            rest = &rest[end..];
        }
        out += rest;
    }
    out
}

fn rewrite_target(target: &str, base: &Path, pages: &[Page]) -> String {
    if target.is_empty()
        || target.starts_with('#')
        || target.contains("://")
        || target.starts_with("mailto:")
    {
        return target.to_owned();
    }
    let (path, fragment) = match target.split_once('#') {
        Some((path, fragment)) => (path, format!("#{fragment}")),
        None => (target, String::new()),
    };
    let Some(resolved) = normalize(&base.join(path)) else {
        return target.to_owned();
    };
    match pages.iter().find(|page| page.source == resolved) {
        Some(page) => format!("{}{fragment}", page.book_name),
        None => format!("{REPOSITORY}/blob/main/{resolved}{fragment}"),
    }
}

/// `a/../b/./c` as `b/c`; `None` when it climbs out of the root.
fn normalize(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

fn copy_dir(from: &Path, to: &Path) -> Result {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Every relative `href` and `src` of the site's own HTML pages (not rustdoc's, which
/// rustdoc checks itself) that names no existing file, or a fragment that no `id` of
/// its page carries. Returns one line per broken link.
pub(crate) fn check_links(site: &Path) -> Result<Vec<String>> {
    let mut broken = Vec::new();
    let mut ids: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for entry in fs::read_dir(site)? {
        let path = entry?.path();
        if path.extension().is_none_or(|ext| ext != "html") {
            continue;
        }
        let html = fs::read_to_string(&path)?;
        // mdBook's 404 page resolves its links against `<base href="/">`, the site's
        // root wherever the page is served from.
        let base = if html.contains("<base href=\"/\"") {
            site.to_path_buf()
        } else {
            path.parent().unwrap_or(site).to_path_buf()
        };
        for target in attributes(&html, "href").chain(attributes(&html, "src")) {
            if target.is_empty() || target.starts_with("//") || is_scheme(target) {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target, None),
            };
            let file = file.split('?').next().unwrap_or(file);
            let resolved = if file.is_empty() {
                path.clone()
            } else {
                // A root-relative link is read as relative to the site's root.
                let joined = match file.strip_prefix('/') {
                    Some(rooted) => site.join(rooted),
                    None => base.join(file),
                };
                if joined.is_dir() {
                    joined.join("index.html")
                } else {
                    joined
                }
            };
            let page = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            if !resolved.is_file() {
                broken.push(format!("{page}: {target} (no such file)"));
                continue;
            }
            let Some(fragment) = fragment.filter(|f| !f.is_empty()) else {
                continue;
            };
            if resolved.extension().is_none_or(|ext| ext != "html")
                || resolved.starts_with(site.join("rust"))
            {
                continue;
            }
            let known = match ids.get(&resolved) {
                Some(known) => known,
                None => {
                    let text = fs::read_to_string(&resolved)?;
                    let found = attributes(&text, "id").map(str::to_owned).collect();
                    ids.entry(resolved.clone()).or_insert(found)
                }
            };
            if !known.iter().any(|id| id == fragment) {
                broken.push(format!("{page}: {target} (no id '{fragment}' there)"));
            }
        }
    }
    broken.sort();
    broken.dedup();
    Ok(broken)
}

/// `http:`, `mailto:`, `javascript:`...: a link that leaves the site.
fn is_scheme(target: &str) -> bool {
    target.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    })
}

/// The values of `name="..."` attributes in `html`, entities left as they are (the
/// links mdBook writes have none).
fn attributes<'a>(html: &'a str, name: &str) -> impl Iterator<Item = &'a str> {
    let needle = format!(" {name}=\"");
    let mut rest = html;
    std::iter::from_fn(move || {
        let at = rest.find(&needle)?;
        rest = &rest[at + needle.len()..];
        let end = rest.find('"')?;
        let value = &rest[..end];
        rest = &rest[end..];
        Some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(source: &str, book_name: &str) -> Page {
        Page {
            source: source.to_owned(),
            book_name: book_name.to_owned(),
            title: source.to_owned(),
        }
    }

    #[test]
    fn links_point_at_book_pages_or_the_repository() {
        let pages = [
            page("README.md", "README.md"),
            page("docs/README.md", "documents.md"),
            page("docs/tls.md", "tls.md"),
        ];
        let text = "see [a](../README.md), [b](tls.md#ciphers), [c](#here), \
                    [d](../crates/x.rs), [e](https://example.org/y.md)\n\
                    ```\n[f](../README.md)\n```\n";
        let want = format!(
            "see [a](README.md), [b](tls.md#ciphers), [c](#here), \
             [d]({REPOSITORY}/blob/main/crates/x.rs), [e](https://example.org/y.md)\n\
             ```\n[f](../README.md)\n```\n"
        );
        assert_eq!(rewrite_links(text, "docs/socket.md", &pages), want);
        assert_eq!(
            rewrite_links("[m](docs/README.md) [l](LICENSE)", "README.md", &pages),
            format!("[m](documents.md) [l]({REPOSITORY}/blob/main/LICENSE)")
        );
    }

    #[test]
    fn the_summary_lists_every_page_once() {
        let root = Workspace::locate().unwrap().root;
        let pages = pages(&root).unwrap();
        let summary = summary(&pages);
        for page in &pages {
            let link = format!("]({})", page.book_name);
            assert_eq!(summary.matches(&link).count(), 1, "{link} in\n{summary}");
        }
        assert!(summary.contains(&format!("]({RUST_PAGE})")));
    }

    #[test]
    fn link_checker_finds_missing_files_and_fragments() {
        let site = std::env::temp_dir().join(format!("xtask-docs-links-{}", std::process::id()));
        fs::create_dir_all(site.join("css")).unwrap();
        fs::write(site.join("css/a.css"), "").unwrap();
        fs::write(
            site.join("index.html"),
            r##"<a href="b.html#x">1</a><a href="b.html#nope">2</a><a href="gone.html">3</a>
               <link href="css/a.css"><a href="https://example.org/">4</a><a href="#top">5</a>
               <p id="top"></p><img src="img.png">"##,
        )
        .unwrap();
        fs::write(site.join("b.html"), r#"<h2 id="x">x</h2>"#).unwrap();
        let broken = check_links(&site).unwrap();
        fs::remove_dir_all(&site).unwrap();
        assert_eq!(
            broken,
            [
                "index.html: b.html#nope (no id 'nope' there)",
                "index.html: gone.html (no such file)",
                "index.html: img.png (no such file)",
            ]
        );
    }

    /// The real site from the real docs/, without rustdoc (which `cargo test` need not
    /// build): mdBook renders it and every link resolves. Needs mdBook.
    #[test]
    fn the_site_builds_and_its_links_resolve() {
        let Ok(mdbook) = mdbook() else {
            eprintln!("skip: mdbook is not installed (cargo install mdbook --locked)");
            return;
        };
        let ws = Workspace::locate().unwrap();
        let scratch = std::env::temp_dir().join(format!("xtask-docs-site-{}", std::process::id()));
        let result = build(
            &ws,
            &mdbook,
            &scratch.join("book"),
            &scratch.join("site"),
            false,
        );
        let index = scratch.join("site").join("index.html").is_file();
        let _ = fs::remove_dir_all(&scratch);
        result.unwrap();
        assert!(index);
    }
}

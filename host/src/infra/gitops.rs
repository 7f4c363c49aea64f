//! The GitOps repository: instances' desired state as files in a real git
//! repository, driven through the `git` command line (gix cannot push yet).
//!
//! bbws keeps a clone (under the data directory) of a remote: by default a
//! bare repository beside it (`gitops.git`), or the URL given by
//! `--gitops-remote`. Every change is one commit, authored by the caller,
//! pushed to the remote before it counts.
//!
//! **Group commit.** Commits asked for at the same time in one process are
//! made together: each caller still gets a commit of its own (its own
//! author, message and SHA), but the batch is written by one `git
//! fast-import` as a chain of commits on the remote's head and sent by one
//! push. A batch costs the same handful of git processes whatever its size
//! (fetch, look-ups, fast-import, push), so commits per second grow with
//! the load instead of stopping at one commit's latency. The first caller
//! to find the repository free takes every change waiting and commits
//! them; the others wait for their answer.
//!
//! **Several writers.** Several replicas push to one remote, so a push may
//! be refused (another replica pushed first): the batch is then made again
//! on the remote's new head (a change is a whole file put or deleted, so
//! re-applying it is the rebase) and pushed again, with jittered backoff,
//! until it lands or the attempts run out. No commit is lost, and none is
//! pushed twice:
//! - every commit carries a trailer `Bbws-Change: <key>` (the operation's
//!   id, or a fresh one), and a commit whose key the remote already holds
//!   is not made again (a job retried after a crash between push and
//!   record finds its commit and goes on); the keys seen are indexed in
//!   memory, so each batch reads only the commits that are new;
//! - nothing is written to the clone's branch until the remote has taken
//!   it, so a refused push leaves nothing behind.
//!
//! The clone's working tree is not used: files are read from its branch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sha1::{Digest, Sha1};
use tokio::io::AsyncWriteExt;
/// Who made a change (the commit's author; the committer is bbws).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Author {
    /// bbws itself, for changes no caller made (a rollback, a tenant's
    /// lifecycle reaching its instances).
    pub fn platform() -> Self {
        Self {
            name: COMMITTER.0.into(),
            email: COMMITTER.1.into(),
        }
    }
}

/// One file's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Put { path: String, bytes: Vec<u8> },
    Delete { path: String },
}

impl Change {
    fn path(&self) -> &str {
        match self {
            Change::Put { path, .. } | Change::Delete { path } => path,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git failed or the remote did not take the commit after every retry:
    /// try again later.
    #[error("git: {0}")]
    Unavailable(String),
    /// The request cannot succeed (a path outside the repository).
    #[error("{0}")]
    Invalid(String),
}

/// Pushes tried before a change gives up.
const PUSH_ATTEMPTS: u32 = 30;
const BRANCH: &str = "main";
const COMMITTER: (&str, &str) = ("bbws", "bbws@localhost");
const TRAILER: &str = "Bbws-Change";

/// Commits made together at most (one fast-import, one push).
const MAX_BATCH: usize = 128;

/// A clone of the GitOps remote.
pub struct GitOps {
    work: PathBuf,
    remote: String,
    /// Held by the caller committing a batch (and by reads of the branch).
    lock: tokio::sync::Mutex<Keys>,
    /// Commits asked for and not yet taken into a batch.
    waiting: parking_lot::Mutex<Vec<Wanted>>,
    /// Commits made together at most.
    batch_limit: usize,
}

/// The `Bbws-Change` keys on the remote, as far as it has been read.
#[derive(Default)]
struct Keys {
    /// The remote head up to which `commits` is complete.
    read_to: Option<String>,
    commits: HashMap<String, String>,
}

/// A commit a caller asked for.
struct Wanted {
    changes: Vec<Change>,
    body: String,
    author: (String, String),
    key: String,
    answer: tokio::sync::oneshot::Sender<Result<String, GitError>>,
}

/// What a batch does for one caller.
enum Plan {
    /// The remote has the key's commit already.
    Known(String),
    /// Another caller in the batch has the same key: the same answer.
    SameAs(usize),
    /// The changes change nothing: the last commit touching their paths.
    Unchanged,
    /// A new commit, the n-th of the batch's chain.
    Commit(usize),
}

/// Runs git in `dir` with a clean configuration; answers stdout.
async fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    git_with(dir, args, &[]).await
}

async fn git_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Vec<u8>, GitError> {
    run_git(dir, args, env, None).await
}

/// Runs git with `input` on stdin; answers stdout.
async fn git_input(dir: &Path, args: &[&str], input: Vec<u8>) -> Result<Vec<u8>, GitError> {
    run_git(dir, args, &[], Some(input)).await
}

/// Runs git in `dir` with a clean configuration, `env`, and `input` (or
/// nothing) on stdin; answers stdout, or stderr (cut short) as the error.
async fn run_git(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: Option<Vec<u8>>,
) -> Result<Vec<u8>, GitError> {
    let running = |e: std::io::Error| GitError::Unavailable(format!("running git: {e}"));
    let mut child = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .envs(env.iter().copied())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(running)?;
    // Written beside the wait, so a large input cannot deadlock on a full
    // stdout pipe.
    let writer = match (input, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => Some(tokio::spawn(async move {
            let written = stdin.write_all(&input).await;
            drop(stdin);
            written
        })),
        _ => None,
    };
    let out = child.wait_with_output().await.map_err(running)?;
    if let Some(writer) = writer {
        let _ = writer.await;
    }
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        stderr.truncate(500);
        Err(GitError::Unavailable(format!(
            "git {} failed: {stderr}",
            args.first().copied().unwrap_or("")
        )))
    }
}

/// The SHA-1 git gives a file with these bytes.
fn blob_id(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex::encode(h.finalize())
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).trim().to_string()
}

/// Refuses paths that are not plain relative paths inside the repository.
fn check_path(path: &str) -> Result<(), GitError> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && path.len() <= 400
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && part != ".git")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(GitError::Invalid(format!(
            "{path:?} is not a path in the repository"
        )))
    }
}

/// `Name <email>` for git, without the characters that would break it.
fn identity(name: &str, email: &str) -> (String, String) {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '<' | '>' | '\n' | '\r' | '\0'))
            .collect::<String>()
            .trim()
            .to_string()
    };
    let name = clean(name);
    let email = clean(email);
    (
        if name.is_empty() {
            "unknown".into()
        } else {
            name
        },
        if email.is_empty() {
            "unknown@localhost".into()
        } else {
            email
        },
    )
}

fn committer_env(author: &(String, String)) -> [(&str, &str); 4] {
    [
        ("GIT_AUTHOR_NAME", author.0.as_str()),
        ("GIT_AUTHOR_EMAIL", author.1.as_str()),
        ("GIT_COMMITTER_NAME", COMMITTER.0),
        ("GIT_COMMITTER_EMAIL", COMMITTER.1),
    ]
}

impl GitOps {
    /// A bare repository at `path` with a branch `main` (created, with an
    /// initial commit, if missing); answers the URL to use as the remote.
    pub async fn init_bare(path: &Path) -> Result<String, GitError> {
        let url = path.display().to_string();
        if !path.join("HEAD").exists() {
            std::fs::create_dir_all(path)
                .map_err(|e| GitError::Unavailable(format!("creating {url}: {e}")))?;
            git(
                path,
                &["init", "--quiet", "--bare", "--initial-branch", BRANCH],
            )
            .await?;
        }
        if git(path, &["rev-parse", "--verify", "--quiet", BRANCH])
            .await
            .is_err()
        {
            let empty_tree =
                text(git(path, &["hash-object", "-t", "tree", "-w", "--stdin"]).await?);
            let me = identity(COMMITTER.0, COMMITTER.1);
            let commit = text(
                git_with(
                    path,
                    &[
                        "commit-tree",
                        &empty_tree,
                        "-m",
                        "Start the GitOps repository of bbws",
                    ],
                    &committer_env(&me),
                )
                .await?,
            );
            git(
                path,
                &["update-ref", &format!("refs/heads/{BRANCH}"), &commit],
            )
            .await?;
        }
        Ok(url)
    }

    /// A working clone at `work_dir` of `remote`, cloned if missing and
    /// moved to the remote's head otherwise.
    pub async fn open(work_dir: &Path, remote: &str) -> Result<Self, GitError> {
        if !work_dir.join(".git").exists() {
            let parent = work_dir.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent).map_err(|e| {
                GitError::Unavailable(format!("creating {}: {e}", parent.display()))
            })?;
            let target = work_dir.display().to_string();
            git(parent, &["clone", "--quiet", remote, &target]).await?;
        } else {
            git(work_dir, &["remote", "set-url", "origin", remote]).await?;
        }
        let repo = Self {
            work: work_dir.to_path_buf(),
            remote: remote.to_string(),
            lock: tokio::sync::Mutex::new(Keys::default()),
            waiting: parking_lot::Mutex::new(Vec::new()),
            batch_limit: MAX_BATCH,
        };
        repo.ensure_branch().await?;
        repo.to_remote_head().await?;
        Ok(repo)
    }

    /// At most `n` commits per batch (1: one push per commit, as without
    /// group commit; the benchmark's baseline).
    pub fn with_batch_limit(mut self, n: usize) -> Self {
        self.batch_limit = n.max(1);
        self
    }

    /// Gives an empty remote (a fresh repository elsewhere) its `main`.
    async fn ensure_branch(&self) -> Result<(), GitError> {
        git(&self.work, &["fetch", "--quiet", "origin"]).await?;
        let remote_main = format!("origin/{BRANCH}");
        if git(
            &self.work,
            &["rev-parse", "--verify", "--quiet", &remote_main],
        )
        .await
        .is_ok()
        {
            return Ok(());
        }
        let me = identity(COMMITTER.0, COMMITTER.1);
        git(&self.work, &["checkout", "--quiet", "-B", BRANCH]).await?;
        git_with(
            &self.work,
            &[
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                "Start the GitOps repository of bbws",
            ],
            &committer_env(&me),
        )
        .await?;
        git(
            &self.work,
            &["push", "--quiet", "origin", &format!("HEAD:{BRANCH}")],
        )
        .await?;
        Ok(())
    }

    /// Fetches the remote and moves the clone's branch to its head;
    /// answers that commit.
    async fn to_remote_head(&self) -> Result<String, GitError> {
        git(&self.work, &["fetch", "--quiet", "origin", BRANCH]).await?;
        let head = text(git(&self.work, &["rev-parse", &format!("origin/{BRANCH}")]).await?);
        git(
            &self.work,
            &["update-ref", &format!("refs/heads/{BRANCH}"), &head],
        )
        .await?;
        Ok(head)
    }

    /// The remote's URL (for the log).
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// The remote's head, asked without fetching.
    async fn remote_head(&self) -> Result<String, GitError> {
        let out = text(
            git(
                &self.work,
                &["ls-remote", "origin", &format!("refs/heads/{BRANCH}")],
            )
            .await?,
        );
        Ok(out.split_whitespace().next().unwrap_or("").to_string())
    }

    /// Reads the keys of the commits up to `head` that are not read yet.
    async fn read_keys(&self, keys: &mut Keys, head: &str) -> Result<(), GitError> {
        if keys.read_to.as_deref() == Some(head) {
            return Ok(());
        }
        let range = match &keys.read_to {
            // Only what is new, unless history was rewritten under us.
            Some(from)
                if git(&self.work, &["merge-base", "--is-ancestor", from, head])
                    .await
                    .is_ok() =>
            {
                format!("{from}..{head}")
            }
            _ => {
                keys.commits.clear();
                head.to_string()
            }
        };
        let format =
            format!("--format=%H%x00%(trailers:key={TRAILER},valueonly,separator=%x00)%x1e");
        let out = git(&self.work, &["log", &format, &range]).await?;
        for record in String::from_utf8_lossy(&out).split('\x1e') {
            let mut fields = record.trim_matches(|c| c == '\n').split('\0');
            let (Some(sha), Some(key)) = (fields.next(), fields.next()) else {
                continue;
            };
            let key = key.trim();
            if !key.is_empty() {
                // The newest commit of a key wins (log runs newest first).
                keys.commits
                    .entry(key.to_string())
                    .or_insert_with(|| sha.to_string());
            }
        }
        keys.read_to = Some(head.to_string());
        Ok(())
    }

    /// Commits `changes` as one commit by `author` and pushes it; answers
    /// its SHA as on the remote. With `key`, a commit the remote already
    /// holds for that key is answered instead of a new one. Changes that
    /// change nothing make no commit: the answer is the last commit that
    /// touched their paths. Callers at the same time are committed together
    /// (see the module's documentation), each with its own commit.
    pub async fn commit(
        &self,
        changes: Vec<Change>,
        message: &str,
        author: &Author,
        key: Option<&str>,
    ) -> Result<String, GitError> {
        for c in &changes {
            check_path(c.path())?;
        }
        let key = key
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        if key.contains('\n') || key.contains('\0') || key.len() > 100 {
            return Err(GitError::Invalid("a change key is one short line".into()));
        }
        let (answer, mut answered) = tokio::sync::oneshot::channel();
        self.waiting.lock().push(Wanted {
            changes,
            body: format!("{}\n\n{TRAILER}: {key}\n", message.trim()),
            author: identity(&author.name, &author.email),
            key,
            answer,
        });
        let mut keys = self.lock.lock().await;
        loop {
            // A caller before us may have committed ours with theirs.
            if let Ok(result) = answered.try_recv() {
                return result;
            }
            let batch: Vec<Wanted> = {
                let mut waiting = self.waiting.lock();
                let n = waiting.len().min(self.batch_limit);
                waiting.drain(..n).collect()
            };
            if batch.is_empty() {
                break;
            }
            self.commit_batch(&mut keys, batch).await;
        }
        drop(keys);
        answered
            .await
            .unwrap_or_else(|_| Err(GitError::Unavailable("the commit was dropped".into())))
    }

    /// Commits `batch` and answers each caller.
    async fn commit_batch(&self, keys: &mut Keys, batch: Vec<Wanted>) {
        // Only keys this clone has seen on the remote (a job finding the
        // commit its request made): if the remote's head is still where the
        // keys were read to, they are answered from memory, with one
        // `ls-remote` instead of a fetch. A remote that moved, or whose
        // history was rewritten, takes the full path.
        if batch.iter().all(|w| keys.commits.contains_key(&w.key))
            && keys.read_to.is_some()
            && self.remote_head().await.ok() == keys.read_to
        {
            for w in batch {
                let sha = keys.commits[&w.key].clone();
                let _ = w.answer.send(Ok(sha));
            }
            return;
        }
        let mut last_error = String::new();
        let mut other_failures = 0;
        for attempt in 0..PUSH_ATTEMPTS {
            if attempt > 0 {
                let cap = 10u64 << attempt.min(5);
                tokio::time::sleep(Duration::from_millis(rand::random_range(1..=cap))).await;
            }
            match self.try_batch(keys, &batch).await {
                Ok(Some(answers)) => {
                    if batch.len() > 1 {
                        tracing::debug!(commits = batch.len(), "GitOps batch pushed");
                    }
                    for (wanted, sha) in batch.into_iter().zip(answers) {
                        let _ = wanted.answer.send(Ok(sha));
                    }
                    return;
                }
                // Another writer got there first: go again on top of it.
                Ok(None) => tracing::debug!(attempt, "push raced; again on the new head"),
                Err(e) => {
                    // Anything else (a hook, a dead remote) is tried a few
                    // times only.
                    last_error = e.to_string();
                    tracing::debug!(attempt, error = %e, "GitOps batch failed");
                    other_failures += 1;
                    if other_failures >= 3 {
                        break;
                    }
                }
            }
        }
        // Nothing was written to the branch; leave it as the remote is.
        let _ = self.to_remote_head().await;
        for wanted in batch {
            let _ = wanted.answer.send(Err(GitError::Unavailable(format!(
                "the remote did not take the commit: {last_error}"
            ))));
        }
    }

    /// One attempt at a batch on the remote's head: answers each caller's
    /// SHA, or `None` when the push lost a race.
    async fn try_batch(
        &self,
        keys: &mut Keys,
        batch: &[Wanted],
    ) -> Result<Option<Vec<String>>, GitError> {
        let base = self.to_remote_head().await?;
        self.read_keys(keys, &base).await?;
        // What the touched paths hold at the base.
        let mut paths: Vec<&str> = batch
            .iter()
            .flat_map(|w| w.changes.iter().map(Change::path))
            .collect();
        paths.sort_unstable();
        paths.dedup();
        let mut files: HashMap<String, String> = HashMap::new();
        for chunk in paths.chunks(500) {
            let mut args = vec!["ls-tree", "-z", "--full-tree", base.as_str(), "--"];
            args.extend(chunk.iter().copied());
            let out = git(&self.work, &args).await?;
            for entry in out.split(|b| *b == 0).filter(|e| !e.is_empty()) {
                let entry = String::from_utf8_lossy(entry);
                // `<mode> blob <sha>\t<path>`
                if let Some((meta, path)) = entry.split_once('\t')
                    && let Some(sha) = meta.strip_prefix("100644 blob ")
                {
                    files.insert(path.to_string(), sha.to_string());
                }
            }
        }
        // Plan each caller's commit against what the ones before it did.
        let mut plans = Vec::with_capacity(batch.len());
        let mut commits = Vec::new();
        let mut first_of_key: HashMap<&str, usize> = HashMap::new();
        for (i, w) in batch.iter().enumerate() {
            if let Some(sha) = keys.commits.get(&w.key) {
                plans.push(Plan::Known(sha.clone()));
                continue;
            }
            if let Some(&j) = first_of_key.get(w.key.as_str()) {
                plans.push(Plan::SameAs(j));
                continue;
            }
            first_of_key.insert(&w.key, i);
            let mut changed = false;
            for c in &w.changes {
                match c {
                    Change::Put { path, bytes } => {
                        let id = blob_id(bytes);
                        if files.get(path) != Some(&id) {
                            files.insert(path.clone(), id);
                            changed = true;
                        }
                    }
                    Change::Delete { path } => changed |= files.remove(path).is_some(),
                }
            }
            if changed {
                plans.push(Plan::Commit(commits.len()));
                commits.push(i);
            } else {
                plans.push(Plan::Unchanged);
            }
        }
        let made = if commits.is_empty() {
            Vec::new()
        } else {
            let made = self.fast_import(&base, batch, &commits).await?;
            let tip = made.last().expect("a commit").clone();
            let push = git(
                &self.work,
                &[
                    "push",
                    "--quiet",
                    "origin",
                    &format!("{tip}:refs/heads/{BRANCH}"),
                ],
            )
            .await;
            if let Err(e) = push {
                let raced = [
                    "[rejected]",
                    "fetch first",
                    "non-fast-forward",
                    "cannot lock ref",
                ]
                .iter()
                .any(|m| e.to_string().contains(m));
                return if raced { Ok(None) } else { Err(e) };
            }
            for (n, &i) in commits.iter().enumerate() {
                keys.commits.insert(batch[i].key.clone(), made[n].clone());
            }
            // The keys are complete up to the tip: the base's, and ours.
            keys.read_to = Some(tip.clone());
            git(
                &self.work,
                &["update-ref", &format!("refs/heads/{BRANCH}"), &tip],
            )
            .await?;
            git(
                &self.work,
                &["update-ref", &format!("refs/remotes/origin/{BRANCH}"), &tip],
            )
            .await?;
            made
        };
        let mut answers: Vec<String> = Vec::with_capacity(batch.len());
        for (i, plan) in plans.iter().enumerate() {
            let sha = match plan {
                Plan::Known(sha) => sha.clone(),
                Plan::SameAs(j) => answers[*j].clone(),
                Plan::Commit(n) => made[*n].clone(),
                Plan::Unchanged => {
                    // The newest commit before it (in the batch, else on the
                    // branch) that touched one of its paths.
                    let touched = |j: &usize| {
                        batch[*j]
                            .changes
                            .iter()
                            .any(|c| batch[i].changes.iter().any(|mine| mine.path() == c.path()))
                    };
                    match commits
                        .iter()
                        .enumerate()
                        .rev()
                        .find(|(_, j)| **j < i && touched(j))
                    {
                        Some((n, _)) => made[n].clone(),
                        None => {
                            let mut log =
                                vec!["log", "-n", "1", "--format=%H", base.as_str(), "--"];
                            log.extend(batch[i].changes.iter().map(Change::path));
                            let last = text(git(&self.work, &log).await?);
                            if last.is_empty() { base.clone() } else { last }
                        }
                    }
                }
            };
            answers.push(sha);
        }
        Ok(Some(answers))
    }

    /// Writes the commits `commits` (indexes into `batch`) as a chain on
    /// `base` with one `git fast-import`; answers their SHAs in order.
    /// Nothing is written to a branch: the chain is on a scratch ref.
    async fn fast_import(
        &self,
        base: &str,
        batch: &[Wanted],
        commits: &[usize],
    ) -> Result<Vec<String>, GitError> {
        let now = chrono::Utc::now().timestamp();
        let mut stream: Vec<u8> = Vec::new();
        let data = |stream: &mut Vec<u8>, bytes: &[u8]| {
            stream.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
            stream.extend_from_slice(bytes);
            stream.push(b'\n');
        };
        stream.extend_from_slice(b"feature done\n");
        for (n, &i) in commits.iter().enumerate() {
            let w = &batch[i];
            let header = format!(
                "commit refs/bbws/batch\nmark :{}\nauthor {} <{}> {now} +0000\ncommitter {} <{}> {now} +0000\n",
                n + 1,
                w.author.0,
                w.author.1,
                COMMITTER.0,
                COMMITTER.1,
            );
            stream.extend_from_slice(header.as_bytes());
            data(&mut stream, w.body.as_bytes());
            if n == 0 {
                stream.extend_from_slice(format!("from {base}\n").as_bytes());
            }
            for c in &w.changes {
                match c {
                    Change::Put { path, bytes } => {
                        stream.extend_from_slice(format!("M 100644 inline {path}\n").as_bytes());
                        data(&mut stream, bytes);
                    }
                    Change::Delete { path } => {
                        stream.extend_from_slice(format!("D {path}\n").as_bytes());
                    }
                }
            }
            stream.push(b'\n');
        }
        for n in 0..commits.len() {
            stream.extend_from_slice(format!("get-mark :{}\n", n + 1).as_bytes());
        }
        stream.extend_from_slice(b"done\n");
        let out = git_input(&self.work, &["fast-import", "--quiet", "--force"], stream).await?;
        let shas: Vec<String> = String::from_utf8_lossy(&out)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| l.len() == 40)
            .collect();
        if shas.len() != commits.len() {
            return Err(GitError::Unavailable(format!(
                "git fast-import answered {} commits for {}",
                shas.len(),
                commits.len()
            )));
        }
        Ok(shas)
    }

    /// Fetches the remote and moves the clone to it (others changed
    /// manifests); answers the head commit.
    pub async fn sync(&self) -> Result<String, GitError> {
        let _guard = self.lock.lock().await;
        self.to_remote_head().await
    }

    pub async fn head(&self) -> Result<String, GitError> {
        let _guard = self.lock.lock().await;
        Ok(text(git(&self.work, &["rev-parse", BRANCH]).await?))
    }

    /// A file at the clone's head.
    pub async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        check_path(path)?;
        let _guard = self.lock.lock().await;
        let spec = format!("{BRANCH}:{path}");
        if git(&self.work, &["cat-file", "-e", &spec]).await.is_err() {
            return Ok(None);
        }
        git(&self.work, &["show", &spec]).await.map(Some)
    }

    /// Every file under `dir` at the clone's head: (path, bytes).
    pub async fn list(&self, dir: &str) -> Result<Vec<(String, Vec<u8>)>, GitError> {
        check_path(dir)?;
        let _guard = self.lock.lock().await;
        let names = text(
            git(
                &self.work,
                &["ls-tree", "-r", "--name-only", BRANCH, "--", dir],
            )
            .await?,
        );
        let mut files = Vec::new();
        for name in names.lines().filter(|l| !l.is_empty()) {
            let bytes = git(&self.work, &["show", &format!("{BRANCH}:{name}")]).await?;
            files.push((name.to_string(), bytes));
        }
        Ok(files)
    }

    /// The last commit at the clone's head that touched `path`.
    pub async fn last_commit(&self, path: &str) -> Result<Option<String>, GitError> {
        check_path(path)?;
        let _guard = self.lock.lock().await;
        let out = text(
            git(
                &self.work,
                &["log", "-n", "1", "--format=%H", BRANCH, "--", path],
            )
            .await?,
        );
        Ok((!out.is_empty()).then_some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn author(n: usize) -> Author {
        Author {
            name: format!("Op {n}"),
            email: format!("op{n}@example.com"),
        }
    }

    fn put(path: &str, text: &str) -> Change {
        Change::Put {
            path: path.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    async fn remote_log(remote: &str, format: &str) -> Vec<String> {
        text(
            git(
                Path::new(remote),
                &["log", &format!("--format={format}"), BRANCH],
            )
            .await
            .unwrap(),
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    async fn remote_files(remote: &str) -> Vec<String> {
        text(
            git(Path::new(remote), &["ls-tree", "-r", "--name-only", BRANCH])
                .await
                .unwrap(),
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    async fn setup() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let remote = GitOps::init_bare(&dir.path().join("remote.git"))
            .await
            .unwrap();
        (dir, remote)
    }

    #[tokio::test]
    async fn a_commit_lands_on_the_remote_by_its_author_with_its_key() {
        let (dir, remote) = setup().await;
        let repo = GitOps::open(&dir.path().join("work"), &remote)
            .await
            .unwrap();
        let sha = repo
            .commit(
                vec![put("tenants/t/instances/i.json", "{}\n")],
                "Create instance web",
                &author(1),
                Some("op_1"),
            )
            .await
            .unwrap();
        let log = remote_log(
            &remote,
            "%H|%an <%ae>|%cn|%s|%(trailers:key=Bbws-Change,valueonly)",
        )
        .await;
        assert_eq!(
            log[0],
            format!("{sha}|Op 1 <op1@example.com>|bbws|Create instance web|op_1")
        );
        assert_eq!(
            remote_files(&remote).await,
            vec!["tenants/t/instances/i.json"]
        );
        assert_eq!(
            repo.read("tenants/t/instances/i.json").await.unwrap(),
            Some(b"{}\n".to_vec())
        );
        assert_eq!(
            repo.last_commit("tenants/t/instances/i.json")
                .await
                .unwrap(),
            Some(sha)
        );
    }

    #[tokio::test]
    async fn the_same_key_twice_makes_one_commit() {
        let (dir, remote) = setup().await;
        let repo = GitOps::open(&dir.path().join("work"), &remote)
            .await
            .unwrap();
        let a = repo
            .commit(vec![put("a.json", "1")], "one", &author(1), Some("op_1"))
            .await
            .unwrap();
        let b = repo
            .commit(
                vec![put("a.json", "2")],
                "one again",
                &author(1),
                Some("op_1"),
            )
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            remote_log(&remote, "%s").await.len(),
            2,
            "the start and one commit"
        );
    }

    #[tokio::test]
    async fn a_change_that_changes_nothing_makes_no_commit() {
        let (dir, remote) = setup().await;
        let repo = GitOps::open(&dir.path().join("work"), &remote)
            .await
            .unwrap();
        let a = repo
            .commit(vec![put("a.json", "1")], "one", &author(1), None)
            .await
            .unwrap();
        let b = repo
            .commit(vec![put("a.json", "1")], "same", &author(1), None)
            .await
            .unwrap();
        assert_eq!(a, b);
        let gone = repo
            .commit(
                vec![Change::Delete {
                    path: "a.json".into(),
                }],
                "remove",
                &author(1),
                None,
            )
            .await
            .unwrap();
        assert_ne!(gone, a);
        assert_eq!(repo.read("a.json").await.unwrap(), None);
        assert!(remote_files(&remote).await.is_empty());
    }

    #[tokio::test]
    async fn two_replicas_committing_at_once_lose_no_commit() {
        let (dir, remote) = setup().await;
        let one = Arc::new(
            GitOps::open(&dir.path().join("one"), &remote)
                .await
                .unwrap(),
        );
        let two = Arc::new(
            GitOps::open(&dir.path().join("two"), &remote)
                .await
                .unwrap(),
        );
        let mut tasks = Vec::new();
        for n in 0..40 {
            let repo = if n % 2 == 0 { one.clone() } else { two.clone() };
            tasks.push(tokio::spawn(async move {
                repo.commit(
                    vec![put(&format!("f/{n}.json"), "x")],
                    &format!("add {n}"),
                    &author(n),
                    None,
                )
                .await
                .unwrap()
            }));
        }
        let mut shas = Vec::new();
        for t in tasks {
            shas.push(t.await.unwrap());
        }
        assert_eq!(remote_files(&remote).await.len(), 40);
        let log = remote_log(&remote, "%H").await;
        assert_eq!(log.len(), 41, "40 commits and the start");
        for sha in shas {
            assert!(log.contains(&sha), "the answered {sha} is on the remote");
        }
        // The other replica sees them after a sync.
        one.sync().await.unwrap();
        assert_eq!(one.list("f").await.unwrap().len(), 40);
    }

    #[tokio::test]
    async fn a_remote_that_refuses_leaves_the_clone_as_the_remote_is() {
        let (dir, remote) = setup().await;
        let repo = GitOps::open(&dir.path().join("work"), &remote)
            .await
            .unwrap();
        let head = repo.head().await.unwrap();
        // A hook that refuses every push.
        let hook = Path::new(&remote).join("hooks/pre-receive");
        std::fs::write(&hook, "#!/bin/sh\necho refused >&2\nexit 1\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = repo
            .commit(vec![put("a.json", "1")], "one", &author(1), None)
            .await
            .unwrap_err();
        assert!(
            matches!(e, GitError::Unavailable(ref m) if m.contains("refused")),
            "{e}"
        );
        assert_eq!(repo.head().await.unwrap(), head);
        assert_eq!(repo.read("a.json").await.unwrap(), None);
    }

    #[tokio::test]
    async fn paths_outside_the_repository_are_refused() {
        let (dir, remote) = setup().await;
        let repo = GitOps::open(&dir.path().join("work"), &remote)
            .await
            .unwrap();
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            ".git/config",
            "a//b",
            "a b",
        ] {
            let e = repo
                .commit(vec![put(bad, "x")], "bad", &author(1), None)
                .await;
            assert!(matches!(e, Err(GitError::Invalid(_))), "{bad:?}");
        }
        assert_eq!(remote_log(&remote, "%H").await.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_asked_for_together_are_pushed_together_each_its_own() {
        let (dir, remote) = setup().await;
        // The remote logs every update of its branch: one per push.
        git(
            Path::new(&remote),
            &["config", "core.logAllRefUpdates", "always"],
        )
        .await
        .unwrap();
        let repo = Arc::new(
            GitOps::open(&dir.path().join("work"), &remote)
                .await
                .unwrap(),
        );
        let tasks: Vec<_> = (0..60)
            .map(|n| {
                let repo = repo.clone();
                tokio::spawn(async move {
                    // Every third is a second try of the one before it.
                    let key = format!("op_{}", n - n % 3 / 2);
                    repo.commit(
                        vec![put(&format!("f/{}.json", n - n % 3 / 2), "x")],
                        &format!("add {n}"),
                        &author(n),
                        Some(&key),
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut shas = Vec::new();
        for t in tasks {
            shas.push(t.await.unwrap());
        }
        let log = remote_log(&remote, "%H %ae").await;
        // 60 asks, 40 keys: 40 commits and the start.
        assert_eq!(log.len(), 41, "{log:#?}");
        let distinct: std::collections::BTreeSet<&String> = shas.iter().collect();
        assert_eq!(distinct.len(), 40);
        for sha in &shas {
            assert!(
                log.iter().any(|l| l.starts_with(sha.as_str())),
                "{sha} is on the remote"
            );
        }
        let pushes = text(
            git(
                Path::new(&remote),
                &["reflog", "show", "--format=%H", BRANCH],
            )
            .await
            .unwrap(),
        )
        .lines()
        .count();
        assert!(pushes < 20, "{pushes} pushes for 40 commits: batched");
        assert_eq!(remote_files(&remote).await.len(), 40);
    }

    #[tokio::test]
    async fn a_clone_reads_keys_others_pushed_and_a_history_rewrite() {
        let (dir, remote) = setup().await;
        let one = GitOps::open(&dir.path().join("one"), &remote)
            .await
            .unwrap();
        let two = GitOps::open(&dir.path().join("two"), &remote)
            .await
            .unwrap();
        let a = one
            .commit(vec![put("a.json", "1")], "one", &author(1), Some("op_a"))
            .await
            .unwrap();
        // The other clone finds it by its key, not making it again.
        let b = two
            .commit(vec![put("a.json", "2")], "again", &author(2), Some("op_a"))
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(remote_log(&remote, "%H").await.len(), 2);
        // Someone rewinds the remote: the key is gone, so is the commit.
        let start = remote_log(&remote, "%H").await[1].clone();
        git(
            Path::new(&remote),
            &["update-ref", "refs/heads/main", &start],
        )
        .await
        .unwrap();
        let c = one
            .commit(vec![put("a.json", "1")], "one", &author(1), Some("op_a"))
            .await
            .unwrap();
        // Made again on the rewritten history (the same commit, even, when
        // made within the same second).
        assert_eq!(remote_log(&remote, "%H").await[0], c);
        assert_eq!(remote_log(&remote, "%H").await.len(), 2);
        assert_eq!(remote_files(&remote).await, vec!["a.json"]);
    }
}

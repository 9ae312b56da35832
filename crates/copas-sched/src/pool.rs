//! Threads for work that would block the loop (name resolution), with results
//! delivered back to the loop as task completions.

use std::any::Any;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use polling::Poller;

use crate::TaskId;

/// What a blocking job hands back to the task that asked for it.
pub type Completion = Box<dyn Any + Send>;

type Job = Box<dyn FnOnce() -> Completion + Send>;

/// Completions waiting to be picked up by the loop, plus the poller to wake it.
#[derive(Debug, Clone)]
pub(crate) struct CompletionQueue {
    done: Arc<Mutex<Vec<(TaskId, Completion)>>>,
    poller: Arc<Poller>,
}

impl CompletionQueue {
    pub(crate) fn new(poller: Arc<Poller>) -> Self {
        CompletionQueue {
            done: Arc::default(),
            poller,
        }
    }

    fn push(&self, task: TaskId, completion: Completion) {
        // A poisoned lock only means another worker panicked mid-push; the data is intact.
        let mut done = self
            .done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        done.push((task, completion));
        drop(done);
        // The loop may be asleep in epoll_wait.
        let _ = self.poller.notify();
    }

    pub(crate) fn drain(&self, mut each: impl FnMut(TaskId, Completion)) {
        let taken = std::mem::take(
            &mut *self
                .done
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for (task, completion) in taken {
            each(task, completion);
        }
    }
}

/// A small pool of worker threads, started on demand.
#[derive(Debug)]
pub(crate) struct BlockingPool {
    jobs: Option<Sender<(TaskId, Job)>>,
    receiver: Arc<Mutex<Receiver<(TaskId, Job)>>>,
    queue: CompletionQueue,
    workers: usize,
    busy: Arc<std::sync::atomic::AtomicUsize>,
}

/// Most threads the pool starts; more jobs than this queue up.
const MAX_WORKERS: usize = 8;

impl BlockingPool {
    pub(crate) fn new(queue: CompletionQueue) -> Self {
        let (sender, receiver) = channel();
        BlockingPool {
            jobs: Some(sender),
            receiver: Arc::new(Mutex::new(receiver)),
            queue,
            workers: 0,
            busy: Arc::default(),
        }
    }

    /// How many worker threads were started.
    pub(crate) fn threads(&self) -> usize {
        self.workers
    }

    pub(crate) fn spawn(&mut self, task: TaskId, job: Job) -> std::io::Result<()> {
        use std::sync::atomic::Ordering;
        if self.busy.load(Ordering::SeqCst) >= self.workers && self.workers < MAX_WORKERS {
            self.start_worker()?;
        }
        self.busy.fetch_add(1, Ordering::SeqCst);
        let sender = self
            .jobs
            .as_ref()
            .expect("the sender lives as long as the pool");
        sender
            .send((task, job))
            .map_err(|_| std::io::Error::other("blocking pool stopped"))
    }

    fn start_worker(&mut self) -> std::io::Result<()> {
        use std::sync::atomic::Ordering;
        let receiver = Arc::clone(&self.receiver);
        let queue = self.queue.clone();
        let busy = Arc::clone(&self.busy);
        std::thread::Builder::new()
            .name("copas-blocking".into())
            .spawn(move || loop {
                let next = receiver
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .recv();
                let Ok((task, job)) = next else {
                    return;
                };
                let result = job();
                busy.fetch_sub(1, Ordering::SeqCst);
                queue.push(task, result);
            })?;
        self.workers += 1;
        Ok(())
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        // Closing the channel lets idle workers return; busy ones finish their job first.
        self.jobs.take();
    }
}

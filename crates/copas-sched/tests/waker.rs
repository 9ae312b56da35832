//! The cross-thread `Waker` and the `future` adapter.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use copas_sched::future::{self, Async, AsyncTask};
use copas_sched::{Scheduler, Step, Task, TaskId, Wake};
use luasocket_core::{Family, ReceivePattern, TcpSocket};

/// Suspends itself until woken, counting the wakeups, and finishes after `limit`.
struct Sleeper {
    woken: u32,
    limit: u32,
}

impl Task for Sleeper {
    fn resume(&mut self, id: TaskId, wake: Wake, s: &mut Scheduler<Self>) -> Step {
        if wake == Wake::Woken {
            self.woken += 1;
        }
        if self.woken == self.limit {
            return Step::Done;
        }
        s.suspend(id).unwrap();
        Step::Parked
    }
}

#[test]
fn another_thread_wakes_a_suspended_task_and_stops_the_loop() {
    let mut scheduler = Scheduler::new().unwrap();
    let id = scheduler.spawn(Sleeper { woken: 0, limit: 1 });
    let waker = scheduler.waker();
    let (started, go) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        go.recv().unwrap();
        waker.wake(id);
        // The task finishes after its wakeup; the loop only ends on stop.
        waker.stop();
    });
    started.send(()).unwrap();
    scheduler.run_until_stopped().unwrap();
    thread.join().unwrap();
    assert!(!scheduler.contains(id));
    assert!(!scheduler.stop_requested());
}

#[test]
fn a_wakeup_sent_before_a_stop_is_run_before_the_loop_ends() {
    let mut scheduler = Scheduler::new().unwrap();
    let id = scheduler.spawn(Sleeper { woken: 0, limit: 1 });
    scheduler.run_ready();
    let waker = scheduler.waker();
    waker.wake(id);
    waker.stop();
    scheduler.run_until_stopped().unwrap();
    assert!(!scheduler.contains(id), "the woken task ran and finished");
}

#[test]
fn stop_ends_run_with_tasks_still_waiting() {
    let mut server = TcpSocket::new(Family::Inet).unwrap();
    server.bind("127.0.0.1", "0").unwrap();
    server.listen(8).unwrap();
    let mut scheduler: Scheduler<AsyncTask> = Scheduler::new().unwrap();
    let accepted = Rc::new(Cell::new(false));
    let flag = accepted.clone();
    future::spawn(&mut scheduler, async move {
        let mut server = Async::new(server);
        let _ = server.accept().await;
        flag.set(true);
    });
    let waker = scheduler.waker();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        waker.stop();
    });
    scheduler.run().unwrap();
    thread.join().unwrap();
    assert!(!accepted.get());
    assert_eq!(scheduler.len(), 1);
}

#[test]
fn async_tasks_time_out_sleep_and_spawn() {
    let mut server = TcpSocket::new(Family::Inet).unwrap();
    server.bind("127.0.0.1", "0").unwrap();
    server.listen(8).unwrap();
    let port = server.local_address().unwrap().1;
    let mut scheduler: Scheduler<AsyncTask> = Scheduler::new().unwrap();
    let log = Rc::new(std::cell::RefCell::new(Vec::new()));
    let server_log = log.clone();
    future::spawn(&mut scheduler, async move {
        let mut server = Async::new(server);
        let mut peer = Async::new(server.accept().await.unwrap());
        peer.set_timeout(Some(Duration::from_millis(30)));
        // The client sends nothing until it slept: the first receive times out.
        let first = peer.receive(ReceivePattern::Line).await;
        server_log
            .borrow_mut()
            .push(format!("{:?}", first.map_err(|e| e.to_string())));
        peer.set_timeout(None);
        let line = peer.receive(ReceivePattern::Line).await.unwrap();
        let inner_log = server_log.clone();
        future::spawn_local(async move {
            future::yield_now().await;
            inner_log.borrow_mut().push("spawned".into());
        });
        server_log
            .borrow_mut()
            .push(String::from_utf8(line).unwrap());
    });
    future::spawn(&mut scheduler, async move {
        let mut client = Async::new(TcpSocket::new(Family::Inet).unwrap());
        client.connect("127.0.0.1", port).await.unwrap();
        future::sleep(Duration::from_millis(500)).await;
        client.send_all(b"late\n").await.unwrap();
    });
    scheduler.run().unwrap();
    assert_eq!(
        *log.borrow(),
        vec![
            r#"Err("timeout")"#.to_owned(),
            "late".into(),
            "spawned".into()
        ]
    );
}

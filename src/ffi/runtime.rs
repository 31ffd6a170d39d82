//! The Tokio runtime the library owns: one current-thread scheduler driven by a named
//! thread (`fg-worker`), plus Tokio's blocking pool for ledger commits, state-transfer
//! verification and private data.
//!
//! One scheduler thread, not a work-stealing pool: every task of a peer (connections, the owner
//! task, emitters) hands messages to the next over channels, and on one thread a hand-off is a
//! queue push, not a wake-up of another thread. Thread wake-ups dominated the CPU spent per block
//! (see docs/BENCHMARKS.md). Ledger writes (and the host's commit callback), the verification
//! of state-transfer responses and private-data storage run on the blocking pool; pushed and
//! pulled blocks, alive and StateInfo are still verified on the scheduler thread, so a slow
//! host `verify` callback slows all traffic (docs/ARCHITECTURE.md, "Not yet in this shape").

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

pub(crate) struct LibRuntime {
    runtime: Arc<tokio::runtime::Runtime>,
    /// Dropping it ends the driver thread's `block_on`.
    stop: Option<oneshot::Sender<()>>,
    driver: Option<JoinHandle<()>>,
}

impl LibRuntime {
    /// Builds the runtime and starts its driver thread. No signal handling: signal handlers
    /// break Go hosts; every library thread blocks SIGPIPE instead.
    pub(crate) fn start() -> io::Result<LibRuntime> {
        let runtime = Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .thread_name("fg-blocking")
                .enable_io()
                .enable_time()
                .on_thread_start(crate::ffi::sigpipe::block_on_this_thread)
                .build()?,
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let rt = runtime.clone();
        let driver = std::thread::Builder::new()
            .name("fg-worker".into())
            .spawn(move || {
                crate::ffi::sigpipe::block_on_this_thread();
                rt.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(LibRuntime {
            runtime,
            stop: Some(stop),
            driver: Some(driver),
        })
    }

    /// Runs `fut` to completion from a host or control thread; the library's tasks keep
    /// running on the driver thread meanwhile.
    pub(crate) fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }
}

impl Drop for LibRuntime {
    /// Stops the driver thread, then drops the runtime: every task is dropped and the blocking
    /// pool's threads are joined before this returns.
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(driver) = self.driver.take() {
            if driver.join().is_err() {
                tracing::error!(target: "fabgossip::ffi", "the runtime's driver thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::sigpipe::blocked_on_this_thread;

    #[test]
    fn tasks_and_blocking_jobs_run_on_library_threads_that_block_sigpipe() {
        let rt = LibRuntime::start().expect("runtime");
        let (tx, rx) = std::sync::mpsc::channel();
        // Spawned without a block_on here: only the driver thread runs it.
        rt.runtime.spawn(async move {
            let on_task = (
                blocked_on_this_thread(),
                std::thread::current().name().map(str::to_owned),
            );
            let on_job = tokio::task::spawn_blocking(|| {
                (
                    blocked_on_this_thread(),
                    std::thread::current().name().map(str::to_owned),
                )
            })
            .await
            .unwrap();
            let _ = tx.send((on_task, on_job));
        });
        let (task, job) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("task ran");
        assert_eq!(task, (true, Some("fg-worker".to_owned())));
        assert_eq!(job, (true, Some("fg-blocking".to_owned())));
    }

    #[test]
    fn tasks_run_while_no_host_thread_waits() {
        let rt = LibRuntime::start().expect("runtime");
        let (tx, rx) = std::sync::mpsc::channel();
        rt.block_on(async {
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let _ = tx.send(std::thread::current().name().map(str::to_owned));
            });
        });
        // block_on has returned: only the driver thread can run the task now.
        let ran_on = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("task ran");
        assert_eq!(ran_on.as_deref(), Some("fg-worker"));
    }

    #[test]
    fn drop_joins_the_driver_and_drops_pending_tasks() {
        let rt = LibRuntime::start().expect("runtime");
        let (tx, rx) = oneshot::channel::<()>();
        rt.block_on(async {
            tokio::spawn(async move {
                let _held = tx;
                std::future::pending::<()>().await;
            });
        });
        drop(rt);
        // The task was dropped with the runtime, so its sender is gone.
        assert!(rx.blocking_recv().is_err());
    }
}

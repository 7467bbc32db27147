//! The one bounded, ordered fan-out every per-host loop uses (offline planning,
//! observing, applying): at most `workers` items are worked on at once, each result
//! is handed to the caller's `sink` in input order, and the sink can stop the run.
//!
//! Items are taken in input order by whichever worker is free (a slow host does not
//! hold back a share of others), so the items started are always a prefix of the
//! input. A worker never runs more than `2 × workers` items ahead of the sink, so
//! results waiting to be delivered stay few however many items there are: output
//! streams and memory stays flat. When the sink says [`Flow::Stop`], no new item
//! starts, and the ones already under way finish and are still delivered (a host
//! being applied is never abandoned half-way); when the sink fails, nothing more is
//! delivered and the error is returned once the workers are done. With one worker
//! everything runs on the calling thread. This module does no I/O.

use std::collections::BTreeMap;
use std::sync::mpsc::channel;
use std::sync::{Condvar, Mutex, PoisonError};

/// What the sink wants after a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Start more items.
    Continue,
    /// Start no new item; deliver the ones already under way.
    Stop,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// How many items were started: items `started..` were never worked on.
    pub started: usize,
}

/// Works on `items` with at most `workers` at once and hands each result to `sink`
/// in input order, with the item's index. See the module doc.
pub fn ordered<T, R, E>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> R + Sync,
    mut sink: impl FnMut(usize, R) -> Result<Flow, E>,
) -> Result<Ran, E>
where
    T: Sync,
    R: Send,
{
    let workers = workers.clamp(1, items.len().max(1));
    if workers == 1 {
        for (i, item) in items.iter().enumerate() {
            if sink(i, work(item))? == Flow::Stop {
                return Ok(Ran { started: i + 1 });
            }
        }
        return Ok(Ran {
            started: items.len(),
        });
    }
    let gate = Gate {
        state: Mutex::new(GateState::default()),
        moved: Condvar::new(),
        window: 2 * workers,
        len: items.len(),
    };
    let (send, receive) = channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let send = send.clone();
            let (gate, work) = (&gate, &work);
            scope.spawn(move || {
                while let Some(i) = gate.take() {
                    if send.send((i, work(&items[i]))).is_err() {
                        return;
                    }
                }
            });
        }
        // Only the workers hold senders now: the loop below ends when they are done.
        drop(send);
        let mut waiting = BTreeMap::new();
        let mut next = 0;
        let mut failed = None;
        for (i, result) in receive {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&next) {
                if failed.is_none() {
                    match sink(next, result) {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Stop) => gate.stop(),
                        Err(e) => {
                            gate.stop();
                            failed = Some(e);
                        }
                    }
                }
                next += 1;
                gate.delivered(next);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(Ran {
                started: gate.started(),
            }),
        }
    })
}

/// Hands out item indices in order, at most `window` ahead of delivery, until stopped.
struct Gate {
    state: Mutex<GateState>,
    moved: Condvar,
    window: usize,
    len: usize,
}

#[derive(Default)]
struct GateState {
    next: usize,
    delivered: usize,
    stopped: bool,
}

impl Gate {
    fn take(&self) -> Option<usize> {
        // A poisoned lock means a worker panicked; the scope re-raises that panic,
        // so carrying on with the data is safe.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if state.stopped || state.next >= self.len {
                return None;
            }
            if state.next < state.delivered + self.window {
                state.next += 1;
                return Some(state.next - 1);
            }
            state = self
                .moved
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn delivered(&self, count: usize) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .delivered = count;
        self.moved.notify_all();
    }

    fn stop(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stopped = true;
        self.moved.notify_all();
    }

    fn started(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn run(workers: usize, n: usize) -> Vec<(usize, usize)> {
        let items: Vec<usize> = (0..n).collect();
        let mut got = Vec::new();
        ordered::<_, _, ()>(
            &items,
            workers,
            |x| x * 10,
            |i, r| {
                got.push((i, r));
                Ok(Flow::Continue)
            },
        )
        .expect("runs");
        got
    }

    #[test]
    fn results_come_in_input_order_and_equal_the_sequential_run() {
        let sequential = run(1, 50);
        for workers in [2, 3, 16, 100] {
            assert_eq!(run(workers, 50), sequential, "{workers} workers");
        }
        assert!(run(4, 0).is_empty());
    }

    #[test]
    fn at_most_workers_items_run_at_once() {
        let items: Vec<usize> = (0..40).collect();
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        ordered::<_, _, ()>(
            &items,
            3,
            |_| {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(2));
                now.fetch_sub(1, Ordering::SeqCst);
            },
            |_, ()| Ok(Flow::Continue),
        )
        .expect("runs");
        assert!(peak.load(Ordering::SeqCst) <= 3);
    }

    #[test]
    fn a_stop_starts_nothing_new_but_delivers_what_was_under_way() {
        for workers in [1, 4] {
            let items: Vec<usize> = (0..100).collect();
            let mut seen = Vec::new();
            let ran = ordered::<_, _, ()>(
                &items,
                workers,
                |x| *x,
                |i, _| {
                    seen.push(i);
                    Ok(if i == 5 { Flow::Stop } else { Flow::Continue })
                },
            )
            .expect("runs");
            assert!(
                ran.started >= 6 && ran.started <= 6 + 2 * workers,
                "{ran:?}"
            );
            assert_eq!(
                seen,
                (0..ran.started).collect::<Vec<_>>(),
                "every started item delivered"
            );
        }
    }

    #[test]
    fn a_failing_sink_is_returned_and_nothing_more_is_delivered() {
        let items: Vec<usize> = (0..100).collect();
        let mut seen = 0;
        let err = ordered(
            &items,
            4,
            |x| *x,
            |i, _| {
                seen += 1;
                if i == 2 {
                    Err("full")
                } else {
                    Ok(Flow::Continue)
                }
            },
        );
        assert_eq!(err, Err("full"));
        assert_eq!(seen, 3);
    }
}

//! Sliding-window send limits per channel and per chat. A send reserves the earliest moment at
//! which every applicable window has room, so concurrent senders never exceed a limit. Senders
//! that dispatch right away use [`RateLimiter::try_take`]: it records a slot only when one is free
//! now, so the recorded moment is the moment the request leaves, not a guess made earlier.

use crate::chat::Rate;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
struct Window {
    rate: Rate,
    /// Reserved send moments, oldest first; at most `rate.count` kept.
    sends: VecDeque<Instant>,
}

impl Window {
    fn new(rate: Rate) -> Self {
        Window { rate, sends: VecDeque::new() }
    }

    /// The window plus a margin. A slot is recorded when the request leaves (`try_take` under
    /// the lock, the request written straight after) and moved to the moment the answer came
    /// back (`complete`): the platform counted the request somewhere in between, so a send whose
    /// slot depended on an answered one never lands inside that one's window, with no margin at
    /// all. The margin only covers a send still unanswered when the next one is due (its slot
    /// is the departure, earlier than the platform's count by the one-way trip) and the timer's
    /// 1 ms granularity. The old pad of 5 % of the window (50 ms a second, 250 ms a minute)
    /// capped throughput at 95.2 % of the limit; 2 %, at most 20 ms, is still many one-way trips.
    fn span(&self) -> Duration {
        self.rate.window + (self.rate.window / 50).min(Duration::from_millis(20))
    }

    fn earliest(&self, at: Instant) -> Instant {
        if (self.sends.len() as u32) < self.rate.count.max(1) {
            return at;
        }
        // The send `count` places back must have left the window.
        let idx = self.sends.len() - self.rate.count.max(1) as usize;
        at.max(self.sends[idx] + self.span())
    }

    /// A send recorded at `sent` was answered at `done`: the platform counted it somewhere in
    /// between, so it leaves the window only `window` after `done`.
    fn complete(&mut self, sent: Instant, done: Instant) {
        if let Some(i) = self.sends.iter().rposition(|s| *s == sent) {
            self.sends.remove(i);
            self.record(done.max(sent));
        }
    }

    fn record(&mut self, t: Instant) {
        // Reservations are made in time order per window, so push_back keeps order.
        let pos = self.sends.iter().rposition(|s| *s <= t).map_or(0, |p| p + 1);
        self.sends.insert(pos, t);
        while self.sends.len() > self.rate.count.max(1) as usize {
            self.sends.pop_front();
        }
    }
}

#[derive(Debug)]
pub struct RateLimiter {
    global: Vec<Window>,
    per_chat_rates: Vec<Rate>,
    chats: HashMap<String, Vec<Window>>,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    pub fn new(global: &[Rate], per_chat: &[Rate]) -> Self {
        RateLimiter {
            global: global.iter().copied().map(Window::new).collect(),
            per_chat_rates: per_chat.to_vec(),
            chats: HashMap::new(),
            paused_until: None,
        }
    }

    /// Reserves the earliest slot for `chat` no earlier than `now`; returns when to send. (The
    /// worker takes only free slots, `try_take`; the tests use this to fill windows ahead.)
    #[cfg(test)]
    fn reserve(&mut self, chat: &str, now: Instant) -> Instant {
        let at = self.earliest(chat, now);
        self.seed(chat, at);
        at
    }

    /// The earliest moment `chat` may send, no earlier than `now`; records nothing.
    pub fn earliest(&self, chat: &str, now: Instant) -> Instant {
        let mut at = self.paused_until.map_or(now, |p| now.max(p));
        let chat_windows = self.chats.get(chat).map(Vec::as_slice).unwrap_or_default();
        loop {
            let next = self.global.iter().chain(chat_windows.iter()).fold(at, |t, w| w.earliest(t));
            if next == at {
                return at;
            }
            at = next;
        }
    }

    /// Takes a slot at `now` if every window has room now; otherwise records nothing and says
    /// when to ask again.
    pub fn try_take(&mut self, chat: &str, now: Instant) -> Result<(), Instant> {
        let at = self.earliest(chat, now);
        if at > now {
            return Err(at);
        }
        self.seed(chat, now);
        Ok(())
    }

    /// The send `chat` made at `sent` (from `try_take`) was answered at `done`.
    pub fn complete(&mut self, chat: &str, sent: Instant, done: Instant) {
        for w in self.global.iter_mut() {
            w.complete(sent, done);
        }
        if let Some(ws) = self.chats.get_mut(chat) {
            for w in ws {
                w.complete(sent, done);
            }
        }
    }

    /// Records a send that already happened (seeding from the database after a restart).
    pub fn seed(&mut self, chat: &str, at: Instant) {
        let rates = &self.per_chat_rates;
        let chat_windows =
            self.chats.entry(chat.to_string()).or_insert_with(|| rates.iter().copied().map(Window::new).collect());
        for w in self.global.iter_mut().chain(chat_windows.iter_mut()) {
            w.record(at);
        }
    }

    /// The platform asked us to slow down: no sends on this channel before `until`.
    pub fn pause(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    /// Forget idle chats so the map does not grow without bound.
    pub fn prune(&mut self, now: Instant) {
        self.chats.retain(|_, ws| ws.iter().any(|w| w.sends.back().is_some_and(|t| *t + w.span() > now)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_in_window(times: &[Instant], window: Duration) -> usize {
        let mut worst = 0;
        for (i, t) in times.iter().enumerate() {
            let n = times[i..].iter().take_while(|u| **u < *t + window).count();
            worst = worst.max(n);
        }
        worst
    }

    #[test]
    fn never_exceeds_any_window() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(&[Rate::per_second(5)], &[Rate::per_second(1), Rate::per_minute(20)]);
        let mut all = Vec::new();
        let mut chat_a = Vec::new();
        for i in 0..60 {
            let chat = if i % 3 == 0 { "a" } else { "b" };
            let at = rl.reserve(chat, t0);
            all.push(at);
            if chat == "a" {
                chat_a.push(at);
            }
        }
        all.sort();
        assert!(count_in_window(&all, Duration::from_secs(1)) <= 5);
        assert!(count_in_window(&chat_a, Duration::from_secs(1)) <= 1);
        assert!(count_in_window(&chat_a, Duration::from_secs(60)) <= 20);
    }

    #[test]
    fn taking_only_free_slots_never_exceeds_any_window() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(&[Rate::per_second(5)], &[Rate::per_second(2)]);
        let (mut all, mut chat_a) = (Vec::new(), Vec::new());
        let mut now = t0;
        // Senders of three chats ask every 7 ms; only the granted ones count.
        while now < t0 + Duration::from_secs(10) {
            for chat in ["a", "b", "c"] {
                match rl.try_take(chat, now) {
                    Ok(()) => {
                        all.push(now);
                        if chat == "a" {
                            chat_a.push(now);
                        }
                    }
                    Err(at) => assert!(at > now),
                }
            }
            now += Duration::from_millis(7);
        }
        assert!(count_in_window(&all, Duration::from_secs(1)) <= 5);
        assert!(count_in_window(&chat_a, Duration::from_secs(1)) <= 2);
        // Close to the limit: 5 a second, less the margin and the 7 ms granularity.
        assert!(all.len() >= 45, "{} sends in 10 s", all.len());
    }

    #[test]
    fn an_answered_send_counts_from_its_answer() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(&[Rate::per_second(1)], &[]);
        rl.try_take("x", t0).unwrap();
        let done = t0 + Duration::from_millis(300);
        rl.complete("x", t0, done);
        let next = rl.try_take("y", t0 + Duration::from_millis(1_100)).unwrap_err();
        assert!(next >= done + Duration::from_secs(1), "{:?}", next - t0);
    }

    #[test]
    fn pause_delays_everything() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(&[], &[]);
        rl.pause(t0 + Duration::from_secs(3));
        assert_eq!(rl.reserve("x", t0), t0 + Duration::from_secs(3));
    }

    #[test]
    fn seeded_sends_count() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(&[Rate::per_second(1)], &[]);
        rl.seed("x", t0);
        assert!(rl.reserve("y", t0) >= t0 + Duration::from_secs(1));
    }
}

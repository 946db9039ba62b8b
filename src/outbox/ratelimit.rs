//! Sliding-window send limits per channel and per chat. A send reserves the earliest moment at
//! which every applicable window has room, so concurrent senders never exceed a limit.

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

    /// Timing jitter between our clock and the platform's: pad each window slightly.
    fn span(&self) -> Duration {
        self.rate.window + (self.rate.window / 20).min(Duration::from_millis(250))
    }

    fn earliest(&self, at: Instant) -> Instant {
        if (self.sends.len() as u32) < self.rate.count.max(1) {
            return at;
        }
        // The send `count` places back must have left the window.
        let idx = self.sends.len() - self.rate.count.max(1) as usize;
        at.max(self.sends[idx] + self.span())
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

    /// Reserves a send slot for `chat` no earlier than `now`; returns when to send.
    pub fn reserve(&mut self, chat: &str, now: Instant) -> Instant {
        let rates = &self.per_chat_rates;
        let chat_windows =
            self.chats.entry(chat.to_string()).or_insert_with(|| rates.iter().copied().map(Window::new).collect());
        let mut at = self.paused_until.map_or(now, |p| now.max(p));
        // Iterate to a fixed point: moving later for one window never un-satisfies another.
        loop {
            let next = self.global.iter().chain(chat_windows.iter()).fold(at, |t, w| w.earliest(t));
            if next == at {
                break;
            }
            at = next;
        }
        for w in self.global.iter_mut().chain(chat_windows.iter_mut()) {
            w.record(at);
        }
        at
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

//! Where decoded sound goes: the sound card (rodio, feature `playback`),
//! nowhere (`null`) or a WAV file (`wav:PATH`).
//!
//! Every output plays at real-time pace, the WAV file included: the engine
//! reports the playhead to the server, which only hands out keys near it and
//! counts listening no faster than the clock, so a file written faster than
//! real time would stall on keys and under-report. [`Output::play`] returns
//! once the samples given have been "heard" (or, for the sound card, are
//! queued less than [`DEVICE_QUEUE`] ahead of the speaker), so the caller's
//! position is what the listener hears.
//!
//! Outputs take interleaved stereo f32 at 44.1 kHz, as the engine hands out.

pub mod gain;
mod wav;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mist_core::audio::SAMPLE_RATE;

use crate::session::AudioOutput;

pub use wav::WavWriter;

/// How far ahead of the speaker the sound-card output queues audio.
#[cfg_attr(not(feature = "playback"), allow(dead_code))]
pub const DEVICE_QUEUE: Duration = Duration::from_millis(500);

/// Samples are handed to outputs in pieces this long, so the position the
/// caller reports moves smoothly and a stop is heard promptly.
const PIECE: Duration = Duration::from_millis(100);

pub enum Output {
    Null(Pacer),
    Wav(WavWriter, Pacer),
    #[cfg(feature = "playback")]
    Device(device::Device),
}

impl Output {
    pub fn open(which: &AudioOutput) -> Result<Output> {
        Ok(match which {
            AudioOutput::Null => Output::Null(Pacer::new()),
            AudioOutput::Wav(path) => Output::Wav(
                WavWriter::create(path).with_context(|| format!("cannot write {}", path.display()))?,
                Pacer::new(),
            ),
            #[cfg(feature = "playback")]
            AudioOutput::Default => Output::Device(device::Device::open()?),
            #[cfg(not(feature = "playback"))]
            AudioOutput::Default => {
                anyhow::bail!("this mist was built without sound card support; use --audio null or --audio wav:PATH")
            }
        })
    }

    /// Plays `samples` and calls `heard(seconds)` as pieces of them are
    /// heard, with the seconds of this call's samples heard so far; stops
    /// early when `heard` answers `false`.
    pub async fn play(&mut self, samples: &[f32], mut heard: impl FnMut(f64) -> bool) -> Result<()> {
        let piece = (PIECE.as_secs_f64() * f64::from(SAMPLE_RATE)) as usize * 2;
        let mut done = 0usize;
        for part in samples.chunks(piece.max(2)) {
            match self {
                Output::Null(pacer) => pacer.wait(part.len()).await,
                Output::Wav(writer, pacer) => {
                    writer.write(part)?;
                    pacer.wait(part.len()).await;
                }
                #[cfg(feature = "playback")]
                Output::Device(device) => device.play(part).await,
            }
            done += part.len();
            if !heard(done as f64 / 2.0 / f64::from(SAMPLE_RATE)) {
                break;
            }
        }
        Ok(())
    }

    /// Stops the sound at once (the sound card stops mid-queue); the pace
    /// starts afresh on [`Output::resume`], so nothing plays fast to catch up.
    pub fn pause(&mut self) {
        match self {
            Output::Null(pacer) | Output::Wav(_, pacer) => pacer.restart(),
            #[cfg(feature = "playback")]
            Output::Device(device) => device.pause(),
        }
    }

    pub fn resume(&mut self) {
        match self {
            Output::Null(pacer) | Output::Wav(_, pacer) => pacer.restart(),
            #[cfg(feature = "playback")]
            Output::Device(device) => device.resume(),
        }
    }

    /// Drops what is queued but not yet heard (after a seek). Only the sound
    /// card queues anything.
    pub fn flush(&mut self) {
        match self {
            Output::Null(pacer) | Output::Wav(_, pacer) => pacer.restart(),
            #[cfg(feature = "playback")]
            Output::Device(device) => device.flush(),
        }
    }

    /// Lets everything queued play out and closes files.
    pub async fn finish(self) -> Result<()> {
        match self {
            Output::Null(_) => Ok(()),
            Output::Wav(writer, _) => writer.finish(),
            #[cfg(feature = "playback")]
            Output::Device(device) => {
                device.drain().await;
                Ok(())
            }
        }
    }
}

/// Real-time pace: samples are "heard" no sooner than their time since the
/// start (absolute deadlines, so decoding and scheduling delays do not add up).
pub struct Pacer {
    started: Option<Instant>,
    samples: u64,
}

impl Pacer {
    fn new() -> Pacer {
        Pacer {
            started: None,
            samples: 0,
        }
    }

    fn restart(&mut self) {
        *self = Pacer::new();
    }

    async fn wait(&mut self, samples: usize) {
        let started = *self.started.get_or_insert_with(Instant::now);
        self.samples += samples as u64;
        let due = Duration::from_secs_f64(self.samples as f64 / 2.0 / f64::from(SAMPLE_RATE));
        tokio::time::sleep_until((started + due).into()).await;
    }
}

#[cfg(feature = "playback")]
mod device {
    use std::num::NonZero;

    use anyhow::{Context, Result};
    use mist_core::audio::SAMPLE_RATE;
    use rodio::buffer::SamplesBuffer;

    use super::{DEVICE_QUEUE, PIECE};

    /// The default sound device through rodio.
    pub struct Device {
        // Dropping the sink stops the sound: kept for as long as the player.
        _sink: rodio::MixerDeviceSink,
        player: rodio::Player,
    }

    impl Device {
        pub fn open() -> Result<Device> {
            let sink = rodio::DeviceSinkBuilder::open_default_sink()
                .context("cannot open the sound card (try --audio null or --audio wav:PATH)")?;
            let player = rodio::Player::connect_new(sink.mixer());
            Ok(Device { _sink: sink, player })
        }

        pub async fn play(&mut self, samples: &[f32]) {
            let queued_max = (DEVICE_QUEUE.as_millis() / PIECE.as_millis()).max(1) as usize;
            while self.player.len() > queued_max {
                tokio::time::sleep(PIECE / 4).await;
            }
            let (Some(channels), Some(rate)) = (NonZero::new(2u16), NonZero::new(SAMPLE_RATE)) else {
                return;
            };
            self.player.append(SamplesBuffer::new(channels, rate, samples.to_vec()));
        }

        pub fn pause(&self) {
            self.player.pause();
        }

        pub fn resume(&self) {
            self.player.play();
        }

        pub fn flush(&self) {
            self.player.clear();
            self.player.play();
        }

        pub async fn drain(&self) {
            while !self.player.empty() {
                tokio::time::sleep(PIECE / 4).await;
            }
        }
    }
}

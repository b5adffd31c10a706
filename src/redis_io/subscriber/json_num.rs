//! Numbers for the streaming id scanner, fed in chunks of any size: JSON's
//! grammar (no leading zeros, a digit after `.` and after the exponent mark)
//! and, for numbers in the `id` value, serde_json's conversion to `f64` and
//! its "number out of range" error, byte for byte.

use super::json_lex::Invalid;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// After `-`.
    Sign,
    /// A lone leading `0`.
    Zero,
    Int,
    /// After `.`.
    FracFirst,
    Frac,
    /// After `e`.
    ExpSign,
    /// After `e+` or `e-`.
    ExpFirst,
    Exp,
}

/// A number, from its first byte (`-` or a digit).
///
/// Checked numbers also follow serde_json's conversion to `f64` (without its
/// `float_roundtrip` feature): up to 19-20 significant digits are kept, the
/// rest only move the decimal exponent, and the result must not be infinite.
pub(super) struct NumLexer {
    part: Part,
    checked: bool,
    significand: u64,
    exponent: i32,
    /// The integer part overflowed the significand: its further digits only count.
    long_integer: bool,
    /// The fraction overflowed the significand: its further digits are ignored.
    long_fraction: bool,
    exp: i32,
    exp_negative: bool,
    exp_overflow: bool,
}

impl NumLexer {
    pub(super) fn new(first: u8, checked: bool) -> NumLexer {
        let part = match first {
            b'-' => Part::Sign,
            b'0' => Part::Zero,
            _ => Part::Int,
        };
        let significand = match part {
            Part::Int => u64::from(first - b'0'),
            _ => 0,
        };
        NumLexer {
            part,
            checked,
            significand,
            exponent: 0,
            long_integer: false,
            long_fraction: false,
            exp: 0,
            exp_negative: false,
            exp_overflow: false,
        }
    }

    /// Reads number bytes; returns the bytes used and whether a byte that
    /// ends the number was seen (it is not used).
    pub(super) fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), Invalid> {
        for (i, &b) in input.iter().enumerate() {
            if !self.byte(b)? {
                return Ok((i, true));
            }
        }
        Ok((input.len(), false))
    }

    /// One byte; `false` when it is not part of the number.
    fn byte(&mut self, b: u8) -> Result<bool, Invalid> {
        let digit = b.is_ascii_digit().then(|| b - b'0');
        self.part = match (self.part, digit, b) {
            (Part::Sign, Some(0), _) => Part::Zero,
            (Part::Sign, Some(d), _) => {
                self.significand = u64::from(d);
                Part::Int
            }
            (Part::Zero, Some(_), _) => return Err(Invalid),
            (Part::Int, Some(d), _) => {
                if self.long_integer || !self.push_digit(d) {
                    self.long_integer = true;
                    self.exponent = self.exponent.wrapping_add(1);
                }
                Part::Int
            }
            (Part::Zero | Part::Int, None, b'.') => Part::FracFirst,
            (Part::FracFirst | Part::Frac, Some(d), _) => {
                if self.long_fraction || !self.push_digit(d) {
                    self.long_fraction = true;
                } else {
                    self.exponent = self.exponent.wrapping_sub(1);
                }
                Part::Frac
            }
            (Part::Zero | Part::Int | Part::Frac, None, b'e' | b'E') => Part::ExpSign,
            (Part::ExpSign, None, b'+' | b'-') => {
                self.exp_negative = b == b'-';
                Part::ExpFirst
            }
            (Part::ExpSign | Part::ExpFirst, Some(d), _) => {
                self.exp = i32::from(d);
                Part::Exp
            }
            (Part::Exp, Some(d), _) => {
                match self
                    .exp
                    .checked_mul(10)
                    .and_then(|e| e.checked_add(i32::from(d)))
                {
                    Some(e) if !self.exp_overflow => self.exp = e,
                    _ => self.exp_overflow = true,
                }
                Part::Exp
            }
            (Part::Zero | Part::Int | Part::Frac | Part::Exp, _, _) => return Ok(false),
            (Part::Sign | Part::FracFirst | Part::ExpSign | Part::ExpFirst, _, _) => {
                return Err(Invalid)
            }
        };
        Ok(true)
    }

    /// `significand * 10 + d` unless it overflows.
    fn push_digit(&mut self, d: u8) -> bool {
        match self
            .significand
            .checked_mul(10)
            .and_then(|s| s.checked_add(u64::from(d)))
        {
            Some(s) => {
                self.significand = s;
                true
            }
            None => false,
        }
    }

    /// The number has ended (at a byte that is not part of it, or at the end
    /// of the message): it must be complete and, if checked, finite.
    pub(super) fn finish(&self) -> Result<(), Invalid> {
        if matches!(
            self.part,
            Part::Sign | Part::FracFirst | Part::ExpSign | Part::ExpFirst
        ) {
            return Err(Invalid);
        }
        if !self.checked || self.significand == 0 {
            return Ok(());
        }
        let exponent = if self.part != Part::Exp {
            self.exponent
        } else if self.exp_overflow {
            // serde_json: an infinite exponent is an error if positive, else the number is 0.
            return if self.exp_negative {
                Ok(())
            } else {
                Err(Invalid)
            };
        } else if self.exp_negative {
            self.exponent.saturating_sub(self.exp)
        } else {
            self.exponent.saturating_add(self.exp)
        };
        if exponent < POW10_FROM {
            // Even u64::MAX times 10^288 is finite (and negative exponents shrink).
            return Ok(());
        }
        let pow = POW10_HIGH
            .get((exponent - POW10_FROM) as usize)
            .ok_or(Invalid)?;
        if (self.significand as f64 * pow).is_infinite() {
            return Err(Invalid);
        }
        Ok(())
    }
}

/// The first power of ten in [`POW10_HIGH`].
const POW10_FROM: i32 = 289;
/// The powers of ten serde_json multiplies by that can overflow an `f64` (literals, as in its table).
const POW10_HIGH: [f64; 20] = [
    1e289, 1e290, 1e291, 1e292, 1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299, 1e300, 1e301,
    1e302, 1e303, 1e304, 1e305, 1e306, 1e307, 1e308,
];

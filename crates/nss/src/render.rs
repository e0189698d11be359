//! Rendering a format with values, as NSS does.
//!
//! A [`Format`] is first compiled for a log type into a [`Compiled`] form whose variables
//! point at *slots*: one per distinct field, in the order [`Compiled::slots`] lists them.
//! Rendering then takes one [`Value`] per slot and a time, and is cheap enough to run
//! hundreds of thousands of times per second (the simulator does).

use crate::dict::{self, DateElement, Encoding, LogType, Resolved};
use crate::format::{Conv, Format, Segment, Spec};

/// A value for one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Text.
    Text(&'a str),
    /// A signed number.
    Int(i64),
    /// No value: NSS prints `None` for text and `0` for numbers.
    Missing,
}

/// The feed escape characters used when none are given: the deployment guide's `,\"`, that
/// is comma, backslash and double quote (the last two would break a JSON string).
pub const DEFAULT_ESCAPES: &[u8] = b",\\\"";

/// The time zone name rendered for `%s{tz}`: the feeds are configured in GMT.
pub const TIME_ZONE: &str = "GMT";

#[derive(Debug, Clone)]
enum CSeg {
    Lit(Box<[u8]>),
    Date(DateElement, Spec),
    Field {
        slot: usize,
        spec: Spec,
        encoding: Encoding,
    },
}

/// A format compiled for rendering.
#[derive(Debug, Clone)]
pub struct Compiled {
    segs: Vec<CSeg>,
    slots: Vec<String>,
    escapes: [bool; 256],
}

impl Compiled {
    /// Compiles `format` for a log type.
    ///
    /// Variables resolve through the log type's dictionary: `eurl` and `url` share the slot
    /// `url`, the first hex-encoded. Names the dictionary does not know get a slot of their
    /// own under their own name (rendered raw), so that linting can still render a sample.
    pub fn new(format: &Format, log_type: Option<LogType>, escapes: &[u8]) -> Compiled {
        let mut segs = Vec::new();
        let mut slots: Vec<String> = Vec::new();
        for seg in &format.segments {
            match seg {
                Segment::Literal { text, .. } => segs.push(CSeg::Lit(text.as_bytes().into())),
                Segment::Field { spec, name, .. } => {
                    let resolved = log_type.and_then(|lt| dict::resolve(lt, name));
                    let (base, encoding) = match resolved {
                        Some(Resolved::Date(d)) => {
                            segs.push(CSeg::Date(d, *spec));
                            continue;
                        }
                        Some(Resolved::Field { def, encoding }) => (def.name, encoding),
                        None => {
                            if let Some((_, d, _)) =
                                dict::DATE_ELEMENTS.iter().find(|(n, _, _)| n == name)
                            {
                                segs.push(CSeg::Date(*d, *spec));
                                continue;
                            }
                            (name.as_str(), Encoding::Raw)
                        }
                    };
                    let slot = match slots.iter().position(|s| s == base) {
                        Some(p) => p,
                        None => {
                            slots.push(base.to_string());
                            slots.len() - 1
                        }
                    };
                    segs.push(CSeg::Field {
                        slot,
                        spec: *spec,
                        encoding,
                    });
                }
            }
        }
        Compiled {
            segs,
            slots,
            escapes: encode_table(escapes),
        }
    }

    /// The field names of the slots, in slot order.
    pub fn slots(&self) -> &[String] {
        &self.slots
    }

    /// Renders one record into `out` (appending; no line terminator).
    ///
    /// `values` holds one value per slot; missing trailing values count as [`Value::Missing`].
    pub fn render(&self, values: &[Value<'_>], time: &DateParts, out: &mut Vec<u8>) {
        self.render_with(
            |slot| values.get(slot).copied().unwrap_or(Value::Missing),
            time,
            out,
        )
    }

    /// Renders one record into `out`, asking `value` for the value of each slot as needed.
    pub fn render_with<'v>(
        &self,
        mut value: impl FnMut(usize) -> Value<'v>,
        time: &DateParts,
        out: &mut Vec<u8>,
    ) {
        for seg in &self.segs {
            match seg {
                CSeg::Lit(b) => out.extend_from_slice(b),
                CSeg::Date(d, spec) => render_date(*d, spec, time, out),
                CSeg::Field {
                    slot,
                    spec,
                    encoding,
                } => self.render_value(value(*slot), spec, *encoding, out),
            }
        }
    }

    fn render_value(&self, v: Value<'_>, spec: &Spec, encoding: Encoding, out: &mut Vec<u8>) {
        match (v, encoding) {
            (Value::Missing, _) if spec.conv.is_numeric() => write_int(0, spec, out),
            (Value::Missing, _) => pad_text(b"None", spec, out),
            (Value::Int(n), Encoding::Raw | Encoding::Hex) => {
                if spec.conv.is_numeric() {
                    write_int(n, spec, out)
                } else {
                    let mut buf = itoa::Buffer::new();
                    pad_text(buf.format(n).as_bytes(), spec, out)
                }
            }
            (Value::Text(t), Encoding::Raw) => pad_text(t.as_bytes(), spec, out),
            (Value::Text(t), Encoding::Hex) => {
                let start = out.len();
                hex_encode(t.as_bytes(), &self.escapes, out);
                pad_in_place(out, start, spec);
            }
            (v, Encoding::Obfuscated) => {
                // A stable stand-in, like NSS's random-looking number for the same value.
                let h = match v {
                    Value::Text(t) => fnv1a(t.as_bytes()),
                    Value::Int(n) => fnv1a(&n.to_le_bytes()),
                    Value::Missing => 0,
                };
                write_int((h % 9_999_999_999) as i64, spec, out)
            }
            (v, Encoding::Base64) => {
                let mut buf = itoa::Buffer::new();
                let bytes = match v {
                    Value::Text(t) => t.as_bytes(),
                    Value::Int(n) => buf.format(n).as_bytes(),
                    Value::Missing => b"None",
                };
                base64_encode(bytes, out)
            }
        }
    }
}

/// The bytes the hex-encoded fields encode: those at or below 0x20, at or above 0x7F, and
/// the feed escape characters.
pub fn encode_table(escapes: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    for (b, e) in t.iter_mut().enumerate() {
        *e = b <= 0x20 || b >= 0x7f;
    }
    for &b in escapes {
        t[usize::from(b)] = true;
    }
    t
}

/// Percent-encodes, with lowercase hex as NSS does (`%2c`), every byte marked in `encode`
/// (see [`encode_table`]).
pub fn hex_encode(input: &[u8], encode: &[bool; 256], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(input.len() + 32);
    let mut run = 0;
    for (i, &b) in input.iter().enumerate() {
        if encode[usize::from(b)] {
            out.extend_from_slice(&input[run..i]);
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            run = i + 1;
        }
    }
    out.extend_from_slice(&input[run..]);
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn base64_encode(input: &[u8], out: &mut Vec<u8>) {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63]);
        out.push(T[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63]
        } else {
            b'='
        });
    }
}

fn pad_text(t: &[u8], spec: &Spec, out: &mut Vec<u8>) {
    // printf pads %5s on the left with spaces (the 0 flag does not apply to strings).
    for _ in t.len()..usize::from(spec.width) {
        out.push(b' ');
    }
    out.extend_from_slice(t);
}

fn pad_in_place(out: &mut Vec<u8>, start: usize, spec: &Spec) {
    let len = out.len() - start;
    let w = usize::from(spec.width);
    if len < w {
        let pad = w - len;
        out.splice(start..start, std::iter::repeat_n(b' ', pad));
    }
}

fn write_int(n: i64, spec: &Spec, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    let hex;
    let digits: &[u8] = match spec.conv {
        Conv::X => {
            hex = format!("{n:x}");
            hex.as_bytes()
        }
        Conv::U | Conv::Lu | Conv::Llu if n < 0 => buf.format(n as u64).as_bytes(),
        _ => buf.format(n).as_bytes(),
    };
    let w = usize::from(spec.width);
    if digits.len() < w {
        if spec.zero {
            let (sign, rest) = if digits.first() == Some(&b'-') {
                (&digits[..1], &digits[1..])
            } else {
                (&b""[..], digits)
            };
            out.extend_from_slice(sign);
            for _ in digits.len()..w {
                out.push(b'0');
            }
            out.extend_from_slice(rest);
            return;
        }
        for _ in digits.len()..w {
            out.push(b' ');
        }
    }
    out.extend_from_slice(digits);
}

/// A point in time broken into the parts the date elements print (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateParts {
    /// Seconds since the Unix epoch.
    pub epoch: i64,
    /// Year.
    pub year: i32,
    /// Month, 1-12.
    pub month: u8,
    /// Day of month, 1-31.
    pub day: u8,
    /// Hour, 0-23.
    pub hour: u8,
    /// Minute, 0-59.
    pub minute: u8,
    /// Second, 0-59.
    pub second: u8,
    /// Day of week, 0 = Monday.
    pub weekday: u8,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl DateParts {
    /// The parts of a Unix time in UTC; times outside years 1-9999 clamp to the epoch.
    pub fn from_epoch(epoch: i64) -> DateParts {
        let t = time::OffsetDateTime::from_unix_timestamp(epoch)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        DateParts {
            epoch: t.unix_timestamp(),
            year: t.year(),
            month: t.month() as u8,
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            weekday: t.weekday().number_days_from_monday(),
        }
    }

    /// The `%s{time}` text: `Mon Aug 28 08:04:30 2023` (day of month not padded, as NSS).
    pub fn ctime(&self, out: &mut Vec<u8>) {
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(WEEKDAYS[usize::from(self.weekday % 7)].as_bytes());
        out.push(b' ');
        out.extend_from_slice(MONTHS[usize::from((self.month + 11) % 12)].as_bytes());
        out.push(b' ');
        out.extend_from_slice(b.format(self.day).as_bytes());
        out.push(b' ');
        two(self.hour, out);
        out.push(b':');
        two(self.minute, out);
        out.push(b':');
        two(self.second, out);
        out.push(b' ');
        out.extend_from_slice(b.format(self.year).as_bytes());
    }
}

fn two(n: u8, out: &mut Vec<u8>) {
    out.push(b'0' + n / 10 % 10);
    out.push(b'0' + n % 10);
}

fn render_date(d: DateElement, spec: &Spec, t: &DateParts, out: &mut Vec<u8>) {
    let num = |n: i64, out: &mut Vec<u8>| {
        if spec.conv.is_numeric() {
            write_int(n, spec, out)
        } else {
            let mut b = itoa::Buffer::new();
            pad_text(b.format(n).as_bytes(), spec, out)
        }
    };
    match d {
        DateElement::Mon => pad_text(
            MONTHS[usize::from((t.month + 11) % 12)].as_bytes(),
            spec,
            out,
        ),
        DateElement::Day => pad_text(WEEKDAYS[usize::from(t.weekday % 7)].as_bytes(), spec, out),
        DateElement::Tz => pad_text(TIME_ZONE.as_bytes(), spec, out),
        DateElement::Time => t.ctime(out),
        DateElement::Dd => num(i64::from(t.day), out),
        DateElement::Hh => num(i64::from(t.hour), out),
        DateElement::Mm => num(i64::from(t.minute), out),
        DateElement::Ss => num(i64::from(t.second), out),
        DateElement::Mth => num(i64::from(t.month), out),
        DateElement::Yy | DateElement::Yyyy => num(i64::from(t.year), out),
        DateElement::Epoch => num(t.epoch, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, lt: LogType, values: &[(&str, Value<'_>)], epoch: i64) -> String {
        let c = Compiled::new(&Format::parse(src).unwrap(), Some(lt), DEFAULT_ESCAPES);
        let vals: Vec<Value<'_>> = c
            .slots()
            .iter()
            .map(|s| {
                values
                    .iter()
                    .find(|(n, _)| n == s)
                    .map_or(Value::Missing, |(_, v)| *v)
            })
            .collect();
        let mut out = Vec::new();
        c.render(&vals, &DateParts::from_epoch(epoch), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn renders_the_web_datetime_like_the_deployment_guide() {
        // 2023-08-28 15:43:14 UTC
        let s = render(
            "%d{yy}-%02d{mth}-%02d{dd} %02d{hh}:%02d{mm}:%02d{ss}",
            LogType::Web,
            &[],
            1_693_237_394,
        );
        assert_eq!(s, "2023-08-28 15:43:14");
    }

    #[test]
    fn renders_time_like_nss_without_padding_the_day() {
        // 2022-06-07 07:50:48 UTC, a Tuesday
        let s = render(
            "%s{time}|%s{mon} %2d{dd}|%s{tz}",
            LogType::Audit,
            &[],
            1_654_588_248,
        );
        assert_eq!(s, "Tue Jun 7 07:50:48 2022|Jun  7|GMT");
    }

    #[test]
    fn hex_encoded_fields_encode_spaces_controls_and_escape_characters() {
        let s = render(
            "%s{elocation}|%s{location}|%s{eua}",
            LogType::Web,
            &[
                ("location", Value::Text("Road Warrior")),
                ("ua", Value::Text("a,b\"c\té")),
            ],
            0,
        );
        assert_eq!(s, "Road%20Warrior|Road Warrior|a%2cb%22c%09%c3%a9");
    }

    #[test]
    fn default_escapes_encode_comma_backslash_and_quote() {
        let s = render(
            "%s{eurl}",
            LogType::Web,
            &[("url", Value::Text(r#"a,b\c"d"#))],
            0,
        );
        assert_eq!(s, "a%2cb%5cc%22d");
    }

    #[test]
    fn missing_values_render_as_none_and_zero() {
        let s = render("%s{login} %d{reqsize}", LogType::Web, &[], 0);
        assert_eq!(s, "None 0");
    }

    #[test]
    fn numbers_honour_width_and_zero_padding() {
        let s = render(
            "%05d{reqsize}|%5d{reqsize}|%x{respsize}",
            LogType::Web,
            &[("reqsize", Value::Int(42)), ("respsize", Value::Int(255))],
            0,
        );
        assert_eq!(s, "00042|   42|ff");
    }

    #[test]
    fn raw_and_hex_variants_share_one_slot() {
        let c = Compiled::new(
            &Format::parse("%s{url} %s{eurl} %s{ehost}").unwrap(),
            Some(LogType::Web),
            DEFAULT_ESCAPES,
        );
        assert_eq!(c.slots(), ["url", "host"]);
    }

    #[test]
    fn base64_variant_encodes_the_value() {
        let s = render(
            "%s{b64ua}",
            LogType::Web,
            &[("ua", Value::Text("curl/8"))],
            0,
        );
        assert_eq!(s, "Y3VybC84");
    }
}

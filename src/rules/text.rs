//! Building messages without `core::fmt`: formatting machinery is the
//! largest thing a wasm module can carry by accident, and payonce's messages
//! need only strings and whole numbers.

use alloc::string::String;

/// The parts, joined.
pub fn cat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// `n` in decimal.
pub fn num(n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[at..].iter().map(|&d| char::from(d)).collect()
}

/// `n` in lowercase hexadecimal, at least `width` digits.
pub fn hex(n: u64, width: usize) -> String {
    let mut out = String::new();
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1) as usize;
    for _ in digits..width {
        out.push('0');
    }
    for i in (0..digits).rev() {
        out.push(char::from(
            b"0123456789abcdef"[(n >> (i * 4)) as usize & 15],
        ));
    }
    out
}

/// Parses a whole decimal number; `None` for anything else, or on overflow.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Sorts `v` so that no element is `less` than the one before it (heapsort:
/// a few hundred bytes of wasm where `sort_unstable` costs kilobytes).
pub fn sort_by<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let sift = |v: &mut [T], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && less(&v[child], &v[child + 1]) {
            child += 1;
        }
        if !less(&v[root], &v[child]) {
            return;
        }
        v.swap(root, child);
        root = child;
    };
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift(v, root, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_and_write_as_fmt_would() {
        for n in [0, 7, 10, 99, 1000, 86_400_000, u64::MAX] {
            assert_eq!(num(n), n.to_string());
            assert_eq!(parse_u64(&n.to_string()), Some(n));
            assert_eq!(hex(n, 0), format!("{n:x}"));
            assert_eq!(hex(n, 16), format!("{n:016x}"));
        }
        for bad in ["", "-1", "1.5", " 1", "18446744073709551616", "1e3"] {
            assert_eq!(parse_u64(bad), None, "{bad}");
        }
        assert_eq!(cat(&["a", "", "bc"]), "abc");
    }

    #[test]
    fn sorts_like_the_standard_library() {
        let mut seed = 12345u64;
        for len in 0..200 {
            let mut v: Vec<u64> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 33) % 50
                })
                .collect();
            let mut expected = v.clone();
            expected.sort_unstable();
            sort_by(&mut v, |a, b| a < b);
            assert_eq!(v, expected);
        }
    }
}

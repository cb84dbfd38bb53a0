//! Which vector instructions this CPU has, checked once, and `multiversion!`, which compiles a
//! kernel's body portable, for AVX2+FMA and for AVX-512 and picks one at run time.

use std::sync::OnceLock;

/// The environment variable that caps the kernels: `avx512` runs a CPU with AMX as one without
/// would, `avx2` a CPU with AVX-512 as an AVX2-only one, `portable` runs the plain loops, `all`
/// (as when unset) everything this CPU has. For measuring on one machine what another kind
/// does; the float products through `gemm` choose their own instructions and are not capped.
pub const CAP_VARIABLE: &str = "LIVECAP_KERNELS";

/// The widest kernels allowed, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cap {
    Portable,
    Avx2,
    Avx512,
    All,
}

/// The cap `value` of [`CAP_VARIABLE`] names (unset: everything), or one sentence on why not.
fn parse_cap(value: Option<&str>) -> Result<Cap, String> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("all") => Ok(Cap::All),
        Some("avx512") => Ok(Cap::Avx512),
        Some("avx2") => Ok(Cap::Avx2),
        Some("portable") => Ok(Cap::Portable),
        Some(other) => Err(format!(
            "{CAP_VARIABLE}={other:?} names no kernels: use avx512, avx2, portable or all"
        )),
    }
}

fn cap_from_env() -> Result<Cap, String> {
    let value = std::env::var_os(CAP_VARIABLE);
    parse_cap(value.as_ref().map(|v| v.to_str().unwrap_or("?")))
}

/// The cap set by [`CAP_VARIABLE`], read once (everything when it names none: the program
/// checks it with [`check_cap`] as it starts).
pub fn cap() -> Cap {
    static CAP: OnceLock<Cap> = OnceLock::new();
    *CAP.get_or_init(|| cap_from_env().unwrap_or(Cap::All))
}

/// `Err` with one sentence naming the variable when [`CAP_VARIABLE`] holds no cap.
pub fn check_cap() -> Result<(), String> {
    cap_from_env().map(|_| ())
}

#[cfg(target_arch = "x86_64")]
pub(super) fn has_avx2() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        cap() >= Cap::Avx2 && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    })
}

#[cfg(target_arch = "x86_64")]
pub(super) fn has_avx512() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| cap() >= Cap::Avx512 && has_avx2() && is_x86_feature_detected!("avx512f"))
}

#[cfg(target_arch = "x86_64")]
pub(super) fn has_f16c() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| has_avx2() && is_x86_feature_detected!("f16c"))
}

/// Whether the half-precision kernels' AVX2/FMA/F16C versions run here.
pub(super) fn f16_simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    return has_f16c();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Define `$name` as a function whose body is compiled three times: portable, with AVX2+FMA, and
/// with AVX-512 (16 lanes: measured 6 % off `transcribe` of the dev files with base on an AVX-512
/// Xeon).
macro_rules! multiversion {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        #[inline]
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                if $crate::asr::kernels::cpu::has_avx512() {
                    // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked at run time).
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::asr::kernels::cpu::has_avx2() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                    return unsafe { avx($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}
pub(super) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_read_from_its_names_and_anything_else_is_refused() {
        assert_eq!(parse_cap(None), Ok(Cap::All));
        assert_eq!(parse_cap(Some("")), Ok(Cap::All));
        assert_eq!(parse_cap(Some("ALL")), Ok(Cap::All));
        assert_eq!(parse_cap(Some(" avx2 ")), Ok(Cap::Avx2));
        assert_eq!(parse_cap(Some("portable")), Ok(Cap::Portable));
        assert_eq!(parse_cap(Some("avx512")), Ok(Cap::Avx512));
        let Err(e) = parse_cap(Some("avx-512")) else {
            panic!("avx-512 is no cap");
        };
        assert!(e.contains(CAP_VARIABLE) && e.contains("avx-512"), "{e}");
        assert!(Cap::Portable < Cap::Avx2 && Cap::Avx2 < Cap::Avx512 && Cap::Avx512 < Cap::All);
    }
}

//! Which vector instructions this CPU has, checked once, and `multiversion!`, which compiles a
//! kernel's body portable, for AVX2+FMA and for AVX-512 and picks one at run time.

#[cfg(target_arch = "x86_64")]
pub(super) fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

#[cfg(target_arch = "x86_64")]
pub(super) fn has_avx512() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| has_avx2() && is_x86_feature_detected!("avx512f"))
}

#[cfg(target_arch = "x86_64")]
pub(super) fn has_f16c() -> bool {
    use std::sync::OnceLock;
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

//! Builds `csrc/longdouble.c`: INCRBYFLOAT's parse, sum and print in C's `long double`, which
//! Rust does not have (see the file's comment).

fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("sluice_longdouble");
}

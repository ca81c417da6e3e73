fn main() {
    redis_compat_tests::run_disque(vec![]);
}

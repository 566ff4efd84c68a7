fn main() {
    let p = std::env::args().nth(1).expect("ELF");
    let elf = std::fs::read(p).unwrap();
    for (a, f, l) in ksymgen::line_rows(&elf, &Default::default()).unwrap() {
        println!("{a:x}\t{f}\t{l}");
    }
}

//! Host-side builder of the embedded kernel symbol table.

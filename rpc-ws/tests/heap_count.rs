//! The shared heap count (`mod heap`) counts a reallocated buffer once:
//! stats_alloc already adds a realloc's growth to `bytes_allocated` (and a
//! shrink to `bytes_deallocated`); soak.rs once added `bytes_reallocated`
//! on top, counting every growth twice (2,097,151 bytes for this buffer).

mod heap;

use heap::heap;

#[test]
fn a_buffer_grown_by_reallocation_is_counted_once() {
    let before = heap();
    let mut buffer: Vec<u8> = Vec::with_capacity(1);
    for i in 0..(1u32 << 20) {
        buffer.push(i as u8); // grows by doubling: realloc after realloc
    }
    let held = heap() - before;
    let capacity = buffer.capacity();
    assert!(
        held >= capacity && held < capacity + (64 << 10),
        "{held} bytes counted for a buffer of {capacity}"
    );
}

//! Where a matrix lies in memory and who multiplies it: the vocabulary shared by the f32
//! products (`matrix.rs`) and the bf16 ones (`amx/`).

/// A matrix inside a slice: element `(i, j)` sits at `offset + i·row + j·col`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Strided {
    /// Index of element `(0, 0)`.
    pub offset: usize,
    /// Distance between rows, elements.
    pub row: usize,
    /// Distance between columns, elements.
    pub col: usize,
}

impl Strided {
    /// Row-major rows `row` apart, starting at `offset`.
    pub fn rows(offset: usize, row: usize) -> Self {
        Self {
            offset,
            row,
            col: 1,
        }
    }

    /// The transpose: the same elements, rows and columns swapped.
    pub fn t(self) -> Self {
        Self {
            offset: self.offset,
            row: self.col,
            col: self.row,
        }
    }

    /// Whether a `rows × cols` matrix of this layout lies inside `len` elements.
    pub(crate) fn fits(&self, rows: usize, cols: usize, len: usize) -> bool {
        rows == 0 || cols == 0 || self.offset + (rows - 1) * self.row + (cols - 1) * self.col < len
    }
}

/// Who runs a product: the calling thread (the caller already splits the work), or the whole
/// rayon pool through gemm's own split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threads {
    /// This thread only.
    One,
    /// Every thread of the pool.
    Pool,
}

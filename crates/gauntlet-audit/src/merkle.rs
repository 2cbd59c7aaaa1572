//! The Merkle tree of RFC 6962 / RFC 9162 §2.1: leaf and node hashes with domain-separation
//! prefixes, tree heads, inclusion proofs and consistency proofs, and their verification.
//!
//! Functions over a whole tree take the leaf hashes (`&[Hash]`), so one read of the log's
//! stored hashes serves many proofs. [`Frontier`] keeps the right edge of the tree (at most one
//! subtree hash per bit of the size) so that appends cost O(log n), not a pass over the log.

use sha2::{Digest as _, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly less than `n` (`n >= 2`): where RFC 6962 splits a tree.
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The tree head `MTH(D[0:n])` over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` in the tree of `leaves`, leaf side first.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    Tree::new(leaves).inclusion_proof(index, leaves.len())
}

/// The proof that the tree of the first `old_size` leaves is a prefix of the tree of `leaves`.
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Option<Vec<Hash>> {
    Tree::new(leaves).consistency_proof(old_size, leaves.len())
}

/// Every perfect, aligned subtree hash of a log: `levels[h][i]` covers leaves
/// `i·2^h .. (i+1)·2^h`. Built in O(n); then any subtree root costs O(log n), so a proof
/// costs O(log² n) instead of a pass over the log.
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    pub fn new(leaves: &[Hash]) -> Tree {
        let mut levels = vec![leaves.to_vec()];
        while let Some(last) = levels.last().filter(|l| l.len() >= 2) {
            let next: Vec<Hash> = last
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(next);
        }
        Tree { levels }
    }

    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// `MTH(D[start : start + len])` for a subtree of the RFC 6962 recursion.
    fn range_root(&self, start: usize, len: usize) -> Hash {
        match len {
            0 => empty_root(),
            _ if len.is_power_of_two() && start.is_multiple_of(len) => {
                self.levels[len.trailing_zeros() as usize][start / len]
            }
            _ => {
                let k = split(len);
                node_hash(
                    &self.range_root(start, k),
                    &self.range_root(start + k, len - k),
                )
            }
        }
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root(&self, size: usize) -> Option<Hash> {
        (size <= self.len()).then(|| self.range_root(0, size))
    }

    pub fn inclusion_proof(&self, index: usize, size: usize) -> Option<Vec<Hash>> {
        if index >= size || size > self.len() {
            return None;
        }
        let mut proof = Vec::new();
        self.path(0, size, index, &mut proof);
        Some(proof)
    }

    fn path(&self, start: usize, n: usize, m: usize, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(start, k, m, out);
            out.push(self.range_root(start + k, n - k));
        } else {
            self.path(start + k, n - k, m - k, out);
            out.push(self.range_root(start, k));
        }
    }

    pub fn consistency_proof(&self, old_size: usize, size: usize) -> Option<Vec<Hash>> {
        if old_size > size || size > self.len() {
            return None;
        }
        let mut proof = Vec::new();
        if old_size > 0 {
            self.subproof(0, size, old_size, true, &mut proof);
        }
        Some(proof)
    }

    fn subproof(&self, start: usize, n: usize, m: usize, complete: bool, out: &mut Vec<Hash>) {
        if m == n {
            if !complete {
                out.push(self.range_root(start, n));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(start, k, m, complete, out);
            out.push(self.range_root(start + k, n - k));
        } else {
            self.subproof(start + k, n - k, m - k, false, out);
            out.push(self.range_root(start, k));
        }
    }
}

/// Recomputes the root from a leaf and its audit path (RFC 9162 §2.1.3.2); `None` when the
/// path cannot belong to a tree of `size` leaves.
pub fn root_from_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// Whether `proof` shows leaf `index` with hash `leaf` is in the tree of `size` with `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    root_from_inclusion(index, size, leaf, proof).is_some_and(|r| &r == root)
}

/// Whether `proof` shows the tree (`old_size`, `old_root`) is a prefix of (`new_size`,
/// `new_root`) (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    &fr == old_root && &sr == new_root && s == 0
}

/// The right edge of a tree: the roots of its perfect subtrees, largest first (one per set bit
/// of the size). Appending a leaf and computing the root cost O(log n).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds a frontier from its stored parts; `None` when the count of hashes does not
    /// match the size.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Frontier> {
        (hashes.len() == size.count_ones() as usize).then_some(Frontier { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        // Each trailing one bit of the old size is a subtree of the new leaf's height to merge.
        for _ in 0..self.size.trailing_ones() {
            if let Some(left) = self.hashes.pop() {
                h = node_hash(&left, &h);
            }
        }
        self.hashes.push(h);
        self.size += 1;
    }

    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// Lower-case hex.
pub fn to_hex(h: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(h.len() * 2);
    for b in h {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses 64 hex digits.
pub fn from_hex(s: &str) -> Option<Hash> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn h(s: &str) -> Hash {
        from_hex(s).unwrap()
    }

    fn bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The RFC 6962 reference leaves (transparency-dev/merkle's test data).
    fn reference_leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|s| leaf_hash(&bytes(s)))
        .collect()
    }

    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn tree_heads_match_the_rfc_6962_vectors() {
        assert_eq!(
            to_hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let leaves = reference_leaves();
        let mut frontier = Frontier::new();
        for n in 1..=8 {
            assert_eq!(to_hex(&root(&leaves[..n])), ROOTS[n - 1], "size {n}");
            frontier.push(leaves[n - 1]);
            assert_eq!(
                to_hex(&frontier.root()),
                ROOTS[n - 1],
                "frontier at size {n}"
            );
        }
    }

    #[test]
    fn inclusion_proofs_match_the_rfc_6962_vectors() {
        let leaves = reference_leaves();
        // (leaf index, tree size, proof)
        let vectors: [(usize, usize, Vec<&str>); 5] = [
            (0, 1, vec![]),
            (
                0,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                vec![
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                vec!["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                vec![
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in vectors {
            let expected: Vec<Hash> = expected.into_iter().map(h).collect();
            let proof = inclusion_proof(&leaves[..size], index).unwrap();
            assert_eq!(proof, expected, "leaf {index} of {size}");
            let root = h(ROOTS[size - 1]);
            assert!(verify_inclusion(
                index as u64,
                size as u64,
                &leaves[index],
                &proof,
                &root
            ));
            // Wrong index, size, leaf, root, or a flipped bit: all rejected.
            assert!(!verify_inclusion(
                index as u64 + 1,
                size as u64,
                &leaves[index],
                &proof,
                &root
            ));
            assert!(!verify_inclusion(
                index as u64,
                size as u64 * 2,
                &leaves[index],
                &proof,
                &root
            ));
            assert!(!verify_inclusion(
                index as u64,
                size as u64,
                &empty_root(),
                &proof,
                &root
            ));
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][0] ^= 8;
                assert!(!verify_inclusion(
                    index as u64,
                    size as u64,
                    &leaves[index],
                    &bad,
                    &root
                ));
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(!verify_inclusion(
                index as u64,
                size as u64,
                &leaves[index],
                &longer,
                &root
            ));
        }
    }

    #[test]
    fn consistency_proofs_match_the_rfc_6962_vectors() {
        let leaves = reference_leaves();
        let vectors: [(usize, usize, Vec<&str>); 5] = [
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                vec![
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                vec![
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                vec![
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (old, new, expected) in vectors {
            let expected: Vec<Hash> = expected.into_iter().map(h).collect();
            let proof = consistency_proof(&leaves[..new], old).unwrap();
            assert_eq!(proof, expected, "{old} → {new}");
            let (r1, r2) = (h(ROOTS[old - 1]), h(ROOTS[new - 1]));
            assert!(verify_consistency(old as u64, new as u64, &r1, &r2, &proof));
            if !proof.is_empty() {
                assert!(!verify_consistency(
                    old as u64, new as u64, &r2, &r1, &proof
                ));
                assert!(!verify_consistency(
                    old as u64 + 1,
                    new as u64,
                    &r1,
                    &r2,
                    &proof
                ));
                assert!(!verify_consistency(old as u64, new as u64, &r1, &r2, &[]));
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][0] ^= 16;
                    assert!(!verify_consistency(old as u64, new as u64, &r1, &r2, &bad));
                }
            }
        }
    }

    #[test]
    fn every_proof_verifies_in_every_tree_shape_up_to_40_leaves() {
        let leaves: Vec<Hash> = (0u32..40).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut frontier = Frontier::new();
        for n in 1..=leaves.len() {
            frontier.push(leaves[n - 1]);
            let r = root(&leaves[..n]);
            assert_eq!(frontier.root(), r);
            assert_eq!(Tree::new(&leaves).root(n), Some(r));
            assert_eq!(
                Frontier::from_parts(frontier.size(), frontier.hashes().to_vec()).as_ref(),
                Some(&frontier)
            );
            for i in 0..n {
                let p = inclusion_proof(&leaves[..n], i).unwrap();
                assert!(verify_inclusion(i as u64, n as u64, &leaves[i], &p, &r));
                assert!(!verify_inclusion(
                    i as u64,
                    n as u64,
                    &leaves[(i + 1) % 40],
                    &p,
                    &r
                ));
            }
            for m in 0..=n {
                let p = consistency_proof(&leaves[..n], m).unwrap();
                let old = root(&leaves[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &old, &r, &p),
                    "{m}→{n}"
                );
                if m > 0 && m < n {
                    let forged = root(&leaves[1..=m]);
                    assert!(!verify_consistency(m as u64, n as u64, &forged, &r, &p));
                }
            }
        }
    }
}

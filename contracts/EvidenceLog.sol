// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title EvidenceLog: append-only on-chain anchors of RFC 9162 Merkle log checkpoints
/// @notice Each log (named by a 32-byte `logId`, by convention SHA-256 of its checkpoint origin
/// line) has a sequence of anchored (size, root) checkpoints. A new checkpoint is accepted only
/// with an RFC 9162 §2.1.4 consistency proof from the latest anchored one, checked here with the
/// SHA-256 precompile, so once a checkpoint is anchored nobody, not even the owner or a
/// submitter, can roll the log back, fork it, or rewrite its history.
///
/// Storage layout (gas is a product metric; a fresh storage slot costs 22,100 gas, more than
/// the rest of an anchor's execution together, so every anchor writes exactly one). Per log:
///
/// * `_latest[logId]`, one slot rewritten by every anchor: the root of the latest anchor;
///   `OPEN` (0x00..01) once a submitter has been allowed and before the first anchor, so that
///   the first anchor rewrites it too instead of paying for a fresh slot; zero for a log never
///   set up.
/// * `_records[logId][root]`, one fresh slot per anchor, keyed by its root:
///       bits   0..47   size         (uint48)
///       bits  48..87   timestamp    (uint40)  block.timestamp of the anchoring block
///       bits  88..127  block number (uint40)
///       bits 128..167  index        (uint40)  0 for the first anchor of the log
///   A record is never zero (size >= 1), so zero means "never anchored".
///
/// Sizes are limited to 2^48 - 1 leaves (`SizeTooLarge`); 40-bit timestamps, block numbers and
/// indices last until the year 36812, block 1.1e12 and 1.1e12 anchors.
///
/// Every anchor, whatever its index, does the same storage work: three cold reads (submitter
/// flag, latest root, the latest record; the first anchor skips the record), one rewrite (the
/// latest root, non-zero to non-zero) and one fresh slot (its record). Whole-transaction gas, as
/// `python -m bench.gas` measures it: 21,000 intrinsic + ~1,500 fixed calldata + 6,300 cold
/// reads + 2,900 rewrite + 22,100 record + 1,893 event + ~1,250 other execution + ~1,150 per
/// proof hash (512 calldata, ~640 for one or two SHA-256 precompile calls and the loop), the
/// same at every index: 62,709 gas at 10 leaves with the longest proof (5 hashes), 85,773 at
/// 1e7 (25 hashes), within 60,000 + 1,500 * log2(size) everywhere. Lookups: `latest` and
/// `checkpointOf` (by root) read two slots and one; there is no lookup by size, which would
/// need a second fresh slot per anchor (docs/contract.md §6).
contract EvidenceLog {
    /// @notice Largest log size the packed layout holds.
    uint64 public constant MAX_SIZE = type(uint48).max;

    /// @dev SHA-256 precompile.
    uint256 private constant _SHA256 = 0x02;
    uint256 private constant _MASK_40 = (1 << 40) - 1;
    uint256 private constant _MASK_48 = (1 << 48) - 1;
    /// @dev `_latest` of a log set up (a submitter allowed) but not yet anchored; never a root.
    bytes32 private constant _OPEN = bytes32(uint256(1));

    address public owner;
    address public pendingOwner;

    mapping(bytes32 logId => mapping(address account => bool)) private _submitters;
    mapping(bytes32 logId => bytes32) private _latest;
    mapping(bytes32 logId => mapping(bytes32 root => uint256)) private _records;

    /// @notice A checkpoint (size, root) of log `logId` was anchored; `prevSize` is the size
    /// of the checkpoint it extends (0 for the first anchor of the log).
    event Anchored(bytes32 indexed logId, uint64 size, bytes32 root, uint64 prevSize);
    event SubmitterSet(bytes32 indexed logId, address indexed account, bool allowed);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error ZeroRoot();
    /// @notice The root 0x00..01 marks a log with no anchor yet (a SHA-256 output is never it
    /// in practice).
    error ReservedRoot();
    error ZeroSize();
    /// @notice The size does not fit the packed layout (see `MAX_SIZE`).
    error SizeTooLarge(uint64 size, uint64 max);
    error Rollback(uint64 latestSize, uint64 size);
    error Fork(uint64 size, bytes32 anchoredRoot, bytes32 root);
    error AlreadyAnchored(uint64 size);
    error ProofLength(uint256 got, uint256 want);
    error OldRootMismatch(bytes32 expected, bytes32 calculated);
    error NewRootMismatch(bytes32 expected, bytes32 calculated);
    /// @notice `root` is already the root of the anchor of `anchoredSize` leaves of this log:
    /// a consistency proof between two sizes with one root takes a SHA-256 collision.
    error RootReused(bytes32 root, uint64 anchoredSize);
    error NotSubmitter(bytes32 logId, address account);
    error NotOwner(address account);
    error NotPendingOwner(address account);
    error ZeroAddress();

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    // --- anchoring ----------------------------------------------------------------------------

    /// @notice Anchor checkpoint (size, root) of log `logId`, extending its latest anchor.
    /// @param consistencyProof RFC 9162 consistency proof from the latest anchored (size, root)
    /// to this one; empty for the first anchor of a log.
    function anchor(bytes32 logId, uint64 size, bytes32 root, bytes32[] calldata consistencyProof)
        external
    {
        if (!_submitters[logId][msg.sender]) revert NotSubmitter(logId, msg.sender);
        if (root == bytes32(0)) revert ZeroRoot();
        if (root == _OPEN) revert ReservedRoot();
        if (size == 0) revert ZeroSize();
        if (size > MAX_SIZE) revert SizeTooLarge(size, MAX_SIZE);

        bytes32 prevRoot = _latest[logId];
        uint64 prevSize;
        uint256 index;
        if (prevRoot == bytes32(0) || prevRoot == _OPEN) {
            if (consistencyProof.length != 0) revert ProofLength(consistencyProof.length, 0);
        } else {
            uint256 prev = _records[logId][prevRoot];
            prevSize = uint64(prev & _MASK_48);
            index = ((prev >> 128) & _MASK_40) + 1;
            if (size < prevSize) revert Rollback(prevSize, size);
            if (size == prevSize) {
                if (root == prevRoot) revert AlreadyAnchored(size);
                revert Fork(size, prevRoot, root);
            }
            _verifyConsistency(prevSize, size, prevRoot, root, consistencyProof);
        }

        mapping(bytes32 => uint256) storage records = _records[logId];
        uint256 existing = records[root];
        if (existing != 0) revert RootReused(root, uint64(existing & _MASK_48));
        // Truncation to 40 bits is the documented layout (valid until year 36812 / block 1.1e12).
        records[root] = uint256(size) | ((block.timestamp & _MASK_40) << 48)
            | ((block.number & _MASK_40) << 88) | (index << 128);
        _latest[logId] = root;
        emit Anchored(logId, size, root, prevSize);
    }

    // --- look-ups -----------------------------------------------------------------------------

    /// @notice The latest anchor of log `logId`; all zero if it was never anchored.
    function latest(bytes32 logId)
        external
        view
        returns (uint64 size, bytes32 root, uint64 timestamp, uint64 blockNumber)
    {
        root = _latest[logId];
        if (root == bytes32(0) || root == _OPEN) return (0, bytes32(0), 0, 0);
        (size, timestamp, blockNumber) = _unpack(_records[logId][root]);
    }

    /// @notice The anchor of log `logId` whose root is `root`: its size and the time and number
    /// of the block that anchored it; all zero if no anchor of this log has that root.
    function checkpointOf(bytes32 logId, bytes32 root)
        external
        view
        returns (uint64 size, uint64 timestamp, uint64 blockNumber)
    {
        return _unpack(_records[logId][root]);
    }

    /// @notice Number of anchors of log `logId`.
    function anchorCount(bytes32 logId) external view returns (uint256) {
        bytes32 root = _latest[logId];
        if (root == bytes32(0) || root == _OPEN) return 0;
        return ((_records[logId][root] >> 128) & _MASK_40) + 1;
    }

    function isSubmitter(bytes32 logId, address account) external view returns (bool) {
        return _submitters[logId][account];
    }

    // --- roles --------------------------------------------------------------------------------

    /// @notice Allow or disallow `account` to anchor log `logId`.
    function setSubmitter(bytes32 logId, address account, bool allowed) external onlyOwner {
        if (account == address(0)) revert ZeroAddress();
        _submitters[logId][account] = allowed;
        // Set the log up once: its first anchor then rewrites `_latest` like every other one.
        if (allowed && _latest[logId] == bytes32(0)) _latest[logId] = _OPEN;
        emit SubmitterSet(logId, account, allowed);
    }

    /// @notice First step of a two-step transfer: `newOwner` must call `acceptOwnership`.
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(msg.sender, newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotPendingOwner(msg.sender);
        address previous = owner;
        owner = msg.sender;
        delete pendingOwner;
        emit OwnershipTransferred(previous, msg.sender);
    }

    // --- internals ----------------------------------------------------------------------------

    function _unpack(uint256 record)
        private
        pure
        returns (uint64 size, uint64 timestamp, uint64 blockNumber)
    {
        size = uint64(record & _MASK_48);
        timestamp = uint64((record >> 48) & _MASK_40);
        blockNumber = uint64((record >> 88) & _MASK_40);
    }

    /// @dev RFC 9162 §2.1.4.2 verification, the same algorithm as verifier.merkle
    /// (`verify_consistency`) for 0 < size1 < size2. The proof length is checked before any
    /// hashing; then the old root is checked before the new one.
    function _verifyConsistency(
        uint256 size1,
        uint256 size2,
        bytes32 root1,
        bytes32 root2,
        bytes32[] calldata proof
    ) private view {
        uint256 want = _proofLength(size1, size2);
        if (proof.length != want) revert ProofLength(proof.length, want);
        bytes32 fr;
        bytes32 sr;
        assembly ("memory-safe") {
            // buf: 0x01 || left || right (65 bytes) past the free memory pointer; digest at 0x00.
            let buf := mload(0x40)
            mstore8(buf, 1)
            let p := proof.offset
            let end := add(p, shl(5, proof.length))
            let fn := sub(size1, 1)
            let sn := sub(size2, 1)
            // A power-of-two size1 is a complete subtree: its root seeds the path; otherwise
            // the proof's first hash does.
            switch and(size1, fn)
            case 0 { fr := root1 }
            default {
                fr := calldataload(p)
                p := add(p, 32)
            }
            sr := fr
            for {} and(fn, 1) {} {
                fn := shr(1, fn)
                sn := shr(1, sn)
            }
            for {} lt(p, end) { p := add(p, 32) } {
                let c := calldataload(p)
                switch or(and(fn, 1), eq(fn, sn))
                case 0 {
                    // c is a right sibling of the new tree only: sr = H(sr, c)
                    mstore(add(buf, 1), sr)
                    mstore(add(buf, 33), c)
                    if iszero(staticcall(gas(), _SHA256, buf, 65, 0x00, 32)) { revert(0, 0) }
                    sr := mload(0x00)
                }
                default {
                    // c is a left sibling of both trees: fr = H(c, fr), sr = H(c, sr)
                    mstore(add(buf, 1), c)
                    mstore(add(buf, 33), fr)
                    if iszero(staticcall(gas(), _SHA256, buf, 65, 0x00, 32)) { revert(0, 0) }
                    fr := mload(0x00)
                    mstore(add(buf, 33), sr)
                    if iszero(staticcall(gas(), _SHA256, buf, 65, 0x00, 32)) { revert(0, 0) }
                    sr := mload(0x00)
                    if iszero(and(fn, 1)) {
                        for {} and(iszero(iszero(fn)), iszero(and(fn, 1))) {} {
                            fn := shr(1, fn)
                            sn := shr(1, sn)
                        }
                    }
                }
                fn := shr(1, fn)
                sn := shr(1, sn)
            }
        }
        if (fr != root1) revert OldRootMismatch(root1, fr);
        if (sr != root2) revert NewRootMismatch(root2, sr);
    }

    /// @notice Number of hashes in the RFC 9162 consistency proof from `size1` to `size2`
    /// leaves: the rule of verifier.merkle `consistency_proof_length` (0 when size1 is 0 or
    /// equals size2). Reverts with `Rollback(size1, size2)` when size1 > size2.
    function consistencyProofLength(uint64 size1, uint64 size2) external pure returns (uint256) {
        if (size1 > size2) revert Rollback(size1, size2);
        if (size1 == 0 || size1 == size2) return 0;
        return _proofLength(size1, size2);
    }

    /// @dev The consistency proof length for 0 < size1 < size2 < 2^64.
    function _proofLength(uint256 size1, uint256 size2) private pure returns (uint256) {
        unchecked {
            uint256 last = size1 - 1;
            // inner: levels below the split of the paths to leaves size1-1 and size2-1.
            uint256 inner = _bitLength(last ^ (size2 - 1));
            // border: left siblings on the right border above that split.
            uint256 border = _popCount(last >> inner);
            // shift: trailing zero bits of size1 (levels covered by size1's own subtree).
            uint256 shift = _bitLength(size1 & (0 - size1)) - 1;
            uint256 seed = (size1 & last) == 0 ? 0 : 1;
            // inner > shift whenever 0 < size1 < size2, so this cannot underflow.
            return seed + inner + border - shift;
        }
    }

    /// @dev Number of bits needed to write x (0 for 0); x < 2^64.
    function _bitLength(uint256 x) private pure returns (uint256 r) {
        assembly ("memory-safe") {
            r := shl(5, lt(0xffffffff, x))
            r := or(r, shl(4, lt(0xffff, shr(r, x))))
            r := or(r, shl(3, lt(0xff, shr(r, x))))
            r := or(r, shl(2, lt(0xf, shr(r, x))))
            r := or(r, shl(1, lt(0x3, shr(r, x))))
            r := or(r, lt(0x1, shr(r, x)))
            // r is now floor(log2(x)) (0 for x <= 1); add one unless x is 0.
            r := add(r, iszero(iszero(x)))
        }
    }

    /// @dev Number of set bits of x; x < 2^64 (SWAR).
    function _popCount(uint256 x) private pure returns (uint256 r) {
        unchecked {
            x = x - ((x >> 1) & 0x5555555555555555);
            x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333);
            x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f;
            r = ((x * 0x0101010101010101) >> 56) & 0xff;
        }
    }
}

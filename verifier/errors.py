"""One exception tree for everything the verifier can refuse.

Every error carries a one-line, human-actionable message (``str(err)``) and a
longer ``diagnostics()`` text. The CLI maps :class:`FormatError` (the input is
unusable) to exit code 3 and reports every other :class:`VerifierError` as a
failed tier.
"""

from __future__ import annotations


class VerifierError(Exception):
    """Root of every error raised by :mod:`verifier`."""

    hint: str = ""

    def diagnostics(self) -> str:
        """A longer explanation: what went wrong and what to do about it."""
        text = str(self)
        return f"{text}\n\n{self.hint}" if self.hint else text


# --- Merkle proofs (RFC 9162 §2.1) -------------------------------------------------


class MerkleError(VerifierError):
    """A Merkle inclusion or consistency proof does not hold."""


class HashLengthError(MerkleError):
    """A hash is not exactly 32 bytes (SHA-256)."""

    def __init__(self, what: str, length: int) -> None:
        super().__init__(f"{what} is {length} bytes, want 32 (SHA-256)")
        self.what = what
        self.length = length


class IndexOutOfRangeError(MerkleError):
    """The leaf index is not below the tree size."""

    def __init__(self, index: int, size: int) -> None:
        super().__init__(f"leaf index {index} is out of range for tree size {size}")
        self.index = index
        self.size = size


class TreeSizeError(MerkleError):
    """Tree sizes are negative, or out of order (size1 > size2)."""


class ProofLengthError(MerkleError):
    """The proof has the wrong number of hashes for its (index, size)."""

    def __init__(self, got: int, want: int) -> None:
        super().__init__(f"wrong proof size {got}, want {want}")
        self.got = got
        self.want = want


class RootMismatchError(MerkleError):
    """The root calculated from a proof differs from the expected root."""

    hint = (
        "The proof does not lead to the tree head it claims. Either the entry is "
        "not in that tree, or the proof, index, size or root was altered."
    )

    def __init__(self, expected: bytes, calculated: bytes, what: str = "root") -> None:
        super().__init__(
            f"{what} mismatch: expected {expected.hex()}, calculated {calculated.hex()}"
        )
        self.expected_root = expected
        self.calculated_root = calculated


# --- Formats ------------------------------------------------------------------------


class FormatError(VerifierError):
    """Input that cannot be used at all: malformed, oversized or of an unknown version."""


class JSONFormatError(FormatError):
    """Bytes that are not strict, bounded JSON (bad UTF-8, duplicate keys, NaN, too deep)."""


class NoteFormatError(FormatError):
    """A signed note (or checkpoint, or key) that does not follow its C2SP grammar."""


class BundleFormatError(FormatError):
    """A proof bundle that does not validate against ``evidence-proof/v1``."""


class UnknownFormatVersionError(BundleFormatError):
    """A bundle of a format version this verifier does not implement."""

    hint = "Upgrade evidence-verify, or ask the issuer for an evidence-proof/v1 bundle."


# --- Signatures ---------------------------------------------------------------------


class SignatureError(VerifierError):
    """A signed note is not signed by the trusted key, or its signature is invalid."""


class UnknownSignerError(SignatureError):
    """No signature line on the note is from a trusted key."""

    hint = "Pass the log's verifier key (vkey) with --log-key; obtain it out of band."


class InvalidSignatureError(SignatureError):
    """A signature line from a trusted key does not verify."""


# --- Evidence packages (evidence-package/v1) --------------------------------------------


class PackageError(FormatError):
    """An evidence package (ZIP or directory) that is refused as a whole.

    A hostile or inconsistent package is never partly verified: the CLI exits 3
    and the service answers 422 with the one-line reason.
    """


class ZipBombError(PackageError):
    """A member (or the whole package) inflates beyond the size or ratio limits."""

    hint = (
        "The package expands to far more data than it holds, or than a package may. "
        "Ask the issuer for a fresh export; do not unpack it with other tools."
    )


class UnsafePathError(PackageError):
    """A member name that is absolute, climbs with '..', uses '\\', a drive letter,
    a NUL or another control character, or appears twice."""


class LinkError(PackageError):
    """A symbolic or hard link in the package (a ZIP link member, a link in a directory)."""


class TooManyEntriesError(PackageError):
    """More members than a package may hold."""


class PackageReadError(PackageError):
    """The package cannot be read at all (no such file, permission denied, I/O error)."""


class TruncatedPackageError(PackageError):
    """Not a readable ZIP: truncated, corrupt, a CRC error, an unsupported feature."""


class PackageLayoutError(PackageError):
    """A member that is missing, unknown, not a regular file, or malformed
    (package.json, chain.json, log-key.vkey, proof.json)."""


class PackageMismatchError(PackageError):
    """The package contradicts itself: manifest.json is not the proof's manifest or does
    not hash to the entry's digests, or a files/ member is not the file its manifest
    describes (size, SHA-256, SM3), is missing, or is not in the manifest."""

    hint = (
        "Something in the package was changed after export, or the package was "
        "assembled from different evidence. Ask the issuer for a fresh export."
    )


# --- tier 5 (verifier.chain) ---------------------------------------------------------


class ChainCheckError(VerifierError):
    """Root of the tier-5 errors."""


class ChainConfigError(ChainCheckError, FormatError):
    """The tier-5 configuration (endpoints, contract, chain id, depth) cannot be used."""


class EndpointUnavailableError(ChainCheckError):
    """An endpoint did not answer the question: unreachable, timed out, an HTTP error,
    or a JSON-RPC error object. Tier 5 is then not checked, not failed."""


class MalformedAnswerError(ChainCheckError):
    """An endpoint answered with something that is not a valid answer. Tier 5 fails."""

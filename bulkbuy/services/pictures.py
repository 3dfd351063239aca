"""Product pictures: a photo checked, made small, and stored under instance/pictures/.

What an organiser sends is never kept as it came: it is opened with Pillow only if it
is a JPEG, PNG, WebP or GIF (the first frame) of at most MAX_PIXELS, turned the way its
EXIF says, made at most LONGEST_SIDE pixels on its longest side and written again as a
small WebP with no EXIF (no camera details, no place it was taken). The stored name is
the start of the new file's SHA-256 and ".webp", so a changed picture is a new URL and
each URL may be kept by browsers for a year (bulkbuy.media).

A refusal is a ServiceError in plain words, and nothing is stored or changed. No
Flask request here: the views pass the bytes, the limit and the directory.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import warnings
from pathlib import Path

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select, update

from bulkbuy.domain.statuses import RoundStatus
from bulkbuy.extensions import db
from bulkbuy.models import Product, Round, RoundItem, User
from bulkbuy.services import ServiceError, audit

# Load Pillow's format plugins now, once, not on the first picture opened in a request
# (an import hook of another library may be in place by then).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ImportWarning)
    Image.init()

#: The largest file taken, unless the PICTURE_MAX_BYTES setting says otherwise.
DEFAULT_MAX_BYTES = 5_000_000
#: Width × height above this is refused before the picture is decoded (a small file can
#: claim a huge picture: decoding it would take gigabytes).
MAX_PIXELS = 40_000_000
#: The longest side of a stored picture: pages show it at most 96 CSS pixels square, so
#: this is two device pixels per CSS pixel, and a picture is a few kB.
LONGEST_SIDE = 192
QUALITY = 70
#: What Pillow may open (its names for the formats); anything else is refused.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
#: A stored picture's name: what /pictures/<name> accepts, and nothing else.
NAME_PATTERN = re.compile(r"\A[0-9a-f]{20}\.webp\Z")
#: Round statuses whose pages no longer show products as a board.
_DONE = (RoundStatus.COMPLETE, RoundStatus.FAILED, RoundStatus.CANCELLED)


def directory(instance_path: str | os.PathLike) -> Path:
    """Where pictures are stored: instance/pictures/ (made when first needed)."""
    return Path(instance_path) / "pictures"


def is_picture_name(name: str | None) -> bool:
    """Whether `name` is a stored picture's name (a hash and .webp, nothing more)."""
    return bool(name) and NAME_PATTERN.match(name) is not None


def _looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") or b"<svg" in head


def make_picture(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The picture in `data` made small: WebP, at most LONGEST_SIDE pixels on its longest
    side, turned as its EXIF says, with no EXIF kept. Refuses (ServiceError) an empty or
    too large file, SVG, anything not a JPEG, PNG, WebP or GIF, a picture of more than
    MAX_PIXELS, and a file that cannot be read to its end."""
    if not data:
        raise ServiceError(_l("Choose a picture file."), field="picture")
    if len(data) > max_bytes:
        raise ServiceError(_l("The picture must be smaller than %(mb)s MB.",
                              mb=max(1, max_bytes // 1_000_000)), field="picture")
    if _looks_like_svg(data):
        raise ServiceError(_l("SVG drawings are not taken. Save it as a JPEG or PNG picture."),
                           field="picture")
    not_a_picture = ServiceError(
        _l("This is not a picture we can use. Choose a JPEG, PNG, WebP or GIF photo."),
        field="picture")
    try:
        with warnings.catch_warnings():
            # Pillow warns of a "decompression bomb" above its own limit: refuse it.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as opened:
                width, height = opened.size
                if width < 1 or height < 1:
                    raise not_a_picture
                if width * height > MAX_PIXELS:
                    raise ServiceError(
                        _l("This picture has too many pixels (%(w)s × %(h)s). Make it "
                           "smaller than %(mp)s megapixels and try again.",
                           w=width, h=height, mp=MAX_PIXELS // 1_000_000), field="picture")
                if opened.format == "JPEG":
                    # Decode a JPEG at a fraction of its size: a phone's 12 megapixels
                    # cost a few hundred kB of memory, not 36 MB.
                    opened.draft("RGB", (LONGEST_SIDE * 2, LONGEST_SIDE * 2))
                opened.seek(0)  # a GIF's first frame
                opened.load()
                picture = ImageOps.exif_transpose(opened)
                has_alpha = picture.mode in ("RGBA", "LA", "PA") or (
                    picture.mode == "P" and "transparency" in picture.info)
                picture = picture.convert("RGBA" if has_alpha else "RGB")
                picture.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.Resampling.LANCZOS)
                out = io.BytesIO()
                # No exif=, icc_profile= or xmp=: nothing of the original's metadata is
                # written.
                picture.save(out, format="WEBP", quality=QUALITY, method=6)
    except ServiceError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ServiceError(
            _l("This picture has too many pixels. Make it smaller than %(mp)s megapixels "
               "and try again.", mp=MAX_PIXELS // 1_000_000), field="picture") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError,
            IndexError, TypeError, MemoryError):
        # Not one of the formats, or cut short, or broken inside.
        raise not_a_picture from None
    return out.getvalue()


def store_picture(data: bytes, folder: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Check and make the picture small (make_picture), write it under `folder`
    (write_picture) and return its name."""
    return write_picture(make_picture(data, max_bytes=max_bytes), folder)


def write_picture(small: bytes, folder: Path) -> str:
    """Write a picture make_picture made under `folder` as <sha256[:20]>.webp (to a
    temporary file first, then moved into place, so a reader never sees half a file) and
    return that name. The same picture twice is one file."""
    name = hashlib.sha256(small).hexdigest()[:20] + ".webp"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(small)
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return name


def pages_show_it_afresh(product_ids: list[int]) -> None:
    """Bump rounds.version of every round not yet done that has one of these products:
    the round page, the tablet's pledge screen and the round's board are kept per that
    number (bulkbuy/fragment_cache.py), and the picture is read from the product, not
    from the round's own copy, so no trigger of migration 0008 sees it change."""
    if not product_ids:
        return
    db.session.execute(
        update(Round)
        .where(Round.id.in_(select(RoundItem.round_id)
                            .where(RoundItem.product_id.in_(product_ids))),
               Round.status.not_in(_DONE))
        .values(version=Round.version + 1)
        .execution_options(synchronize_session=False))


def set_product_picture(product: Product, data: bytes, folder: Path, *, actor: User,
                        max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Give `product` the picture in `data` (store_picture's checks and name); rounds not
    yet done show it at once. Audited. Returns the stored name; refused, nothing
    changes."""
    name = store_picture(data, folder, max_bytes=max_bytes)
    assign_picture(product, name, actor=actor)
    return name


def assign_picture(product: Product, name: str | None, *, actor: User | None,
                   audited: bool = True) -> bool:
    """Set (a stored name) or take away (None) the product's picture; rounds not yet done
    show the change at once. Returns whether anything changed."""
    if name is not None and not is_picture_name(name):
        raise ValueError(f"not a stored picture's name: {name!r}")
    if product.picture == name:
        return False
    before = product.picture
    product.picture = name
    db.session.flush()
    pages_show_it_afresh([product.id])
    if audited:
        audit.record("product.picture_set" if name else "product.picture_removed",
                     actor=actor, group_id=product.supplier.group_id, subject=product,
                     before=before, after=name)
    return True


def remove_product_picture(product: Product, *, actor: User) -> bool:
    """Take the product's picture away (the file stays: another product, or a page
    someone has open, may still show it). Returns whether it had one. Audited."""
    return assign_picture(product, None, actor=actor)


#: The most bytes one import's pictures may be together (PICTURE_IMPORT_MAX_BYTES).
DEFAULT_IMPORT_MAX_BYTES = 25_000_000


def picture_limit(config, setting: str) -> int:
    """The most bytes one picture (PICTURE_MAX_BYTES) or one import's pictures together
    (PICTURE_IMPORT_MAX_BYTES) may be, from the app's `config` or the defaults."""
    default = DEFAULT_MAX_BYTES if setting == "PICTURE_MAX_BYTES" else DEFAULT_IMPORT_MAX_BYTES
    return int(config.get(setting) or default)

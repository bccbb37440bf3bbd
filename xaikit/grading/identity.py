"""Whose file is this? Students from folders, LMS exports and an optional roster.

Rules (in this order, for every ``.ipynb``/``.py`` file found):

1. **Canvas** flat export: ``lastfirst[_late]_<user id>_<submission id>_<original name>``; the
   Canvas user id identifies the student, ``late`` marks a late copy (a resubmission of the same
   student, never another student).
2. **Moodle** export: a folder ``Full Name_<participant id>_assignsubmission_file_`` holding the
   student's files.
3. **One folder per student**: when every file under a folder given on the command line lies in
   a sub-folder (a stray ``README.py`` or ``Untitled.ipynb`` at the top is reported and does not
   change that), the sub-folder's name is the student, whatever the file is called
   (``s01/Copy of 05_grad_cam.ipynb`` is ``s01``); several files in one student's folder: the one
   named like the lesson is graded, the others are reported as ignored.
4. **Plain files**: the file name is the student (``s07.py`` and ``late/s07.py`` are two
   submissions of ``s07``), unless the name is generic (``Untitled``, ``submission``, the
   lesson's own name, ``Copy of ...``): then a file given directly belongs to its folder, and a
   generic file in a class folder is reported as unmatched — never guessed.

With a roster (``roster.csv``: ``id, name, email, login``, optional ``canvas_id`` and
``moodle_id``), each identity must match exactly one roster row (id, login, e-mail or its local
part, LMS id, or the name in any order of its parts, case and accents ignored); a file matching
no row or several rows is reported as unmatched and not graded.

File names for records and feedback come from :func:`safe_name`, which never gives two
different students the same file (``first last`` and ``first_last``, ``Alice`` and ``alice``).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xaikit.base.messages import message

SUFFIXES = (".ipynb", ".py")
SKIPPED_PARTS = (".ipynb_checkpoints", "__pycache__", "__MACOSX")
CANVAS_NAME = re.compile(r"^(?P<name>[A-Za-z0-9-]+?)(?P<late>_late)?_(?P<user>\d+)_(?P<sub>\d+)_"
                         r"(?P<original>.+)$", re.IGNORECASE)
MOODLE_FOLDER = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_"
                           r"(?:file|onlinetext)_?$")
GENERIC_STEMS = re.compile(r"^(untitled\d*|submission|solution|solutions|notebook|main|homework|"
                           r"assignment|exercise|exercises|answers?|copy|lesson|readme|test)$")
CONTAINERS = ("late", "late_submissions", "late submissions", "resubmission", "resubmissions",
              "submissions", "regrade", "regrades")
"""Folder names that hold hand-ins rather than name a student."""
COPY_PREFIX = re.compile(r"^(copy of |copy_of_)+", re.IGNORECASE)
ROSTER_COLUMNS = {
    "id": ("id", "student_id", "student id", "sis user id", "sis_user_id", "idnumber",
           "id number", "matriculation"),
    "name": ("name", "full name", "full_name", "student", "student name"),
    "email": ("email", "e-mail", "email address", "mail"),
    "login": ("login", "username", "user", "sis login id", "sis_login_id"),
    "canvas_id": ("canvas_id", "canvas id", "canvas user id"),
    "moodle_id": ("moodle_id", "moodle id", "participant id"),
}


def safe_name(student: str) -> str:
    """A file name for a student that no other student can share.

    Letters, digits, ``-``, ``_`` and ``.`` are kept (accents dropped, lower case); when that
    changes the name at all, 8 hex digits of the name's SHA-256 are appended.

    Examples
    --------
    >>> safe_name("s01"), safe_name("first_last")
    ('s01', 'first_last')
    >>> safe_name("first last") != safe_name("first_last")
    True
    """
    ascii_text = unicodedata.normalize("NFKD", student).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_text).strip("._-").lower()[:60] or "student"
    if text != student:
        text += "-" + hashlib.sha256(student.encode("utf-8")).hexdigest()[:8]
    return text


def name_key(text: str) -> str:
    """Lower-case ASCII letters and digits only: ``"Zoë O'Neil"`` -> ``"zoeoneil"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


def _name_orders(name: str) -> set[str]:
    """The name's parts joined in every rotation ("first last" -> firstlast, lastfirst)."""
    parts = [name_key(part) for part in re.split(r"[\s,_]+", name) if name_key(part)]
    return {"".join(parts[k:] + parts[:k]) for k in range(len(parts))} if parts else set()


# ================================================================================================
# roster


@dataclass(frozen=True)
class RosterEntry:
    """One student of the roster."""

    id: str
    name: str = ""
    email: str = ""
    login: str = ""
    canvas_id: str = ""
    moodle_id: str = ""


class Roster:
    """The class list; :meth:`match` finds the one student a name or id belongs to."""

    def __init__(self, entries: Sequence[RosterEntry]) -> None:
        self.entries = list(entries)
        self.by_id = {entry.id: entry for entry in self.entries}

    def match(self, text: str = "", *, canvas_id: str = "", moodle_id: str = "",
              name: str = "") -> tuple[RosterEntry | None, str]:
        """The entry ``text`` (an id, login, e-mail or name) or the LMS ids belong to.

        Returns
        -------
        (RosterEntry or None, str)
            The entry, or None and the reason (no row, or the rows it could be).
        """
        found: dict[str, RosterEntry] = {}
        for entry in self.entries:
            if canvas_id and entry.canvas_id == canvas_id or \
                    moodle_id and entry.moodle_id == moodle_id:
                found[entry.id] = entry
        if found:
            return self._one(found, text or canvas_id or moodle_id)
        for candidate in (text, name):
            if not candidate:
                continue
            lowered = candidate.strip().lower()
            for entry in self.entries:
                keys = {entry.id.lower(), entry.login.lower(), entry.email.lower(),
                        entry.email.lower().partition("@")[0]} - {""}
                if lowered in keys:
                    found[entry.id] = entry
            if found:
                return self._one(found, candidate)
            wanted = name_key(candidate)
            for entry in self.entries:
                if wanted and entry.name and wanted in _name_orders(entry.name):
                    found[entry.id] = entry
            if found:
                return self._one(found, candidate)
        shown = text or name or canvas_id or moodle_id
        return None, f"{shown!r} matches no student of the roster"

    @staticmethod
    def _one(found: dict[str, RosterEntry], text: str) -> tuple[RosterEntry | None, str]:
        if len(found) == 1:
            return next(iter(found.values())), ""
        return None, f"{text!r} matches several students of the roster ({', '.join(sorted(found))})"


def load_roster(path: str | os.PathLike[str]) -> Roster:
    """Read ``roster.csv`` (header names are matched case-insensitively, see the module doc).

    Raises
    ------
    ValueError
        If the file has no id column, an empty id, or an id twice.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        headers = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
        columns = {field_name: next((headers[a] for a in aliases if a in headers), None)
                   for field_name, aliases in ROSTER_COLUMNS.items()}
        if columns["id"] is None:
            raise ValueError(message("roster_no_id", path=path,
                                     expected=", ".join(ROSTER_COLUMNS["id"]),
                                     got=", ".join(headers) or "none"))
        entries = []
        for number, row in enumerate(reader, start=2):
            values = {key: (row.get(column) or "").strip() if column else ""
                      for key, column in columns.items()}
            if not values["id"]:
                raise ValueError(message("roster_empty_id", path=path, line=number))
            entries.append(RosterEntry(**values))
    ids = [entry.id for entry in entries]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(message("roster_duplicate", path=path, ids=", ".join(twice)))
    return Roster(entries)


# ================================================================================================
# finding and identifying submissions


@dataclass
class Found:
    """A submission file and the student it belongs to."""

    path: Path
    student: str  # the key in records and CSVs: the roster id, else the derived name
    name: str = ""  # display name
    layout: str = "file"  # file | folder | canvas | moodle
    late: bool = False  # marked late by the LMS
    lms_id: str = ""
    note: str = ""  # e.g. which other files of the same hand-in were ignored


@dataclass
class Skipped:
    """A file not graded, and why (shown to the instructor)."""

    path: Path
    reason: str


@dataclass
class Identified:
    submissions: list[Found] = field(default_factory=list)
    ignored: list[Skipped] = field(default_factory=list)  # other files of a hand-in
    unmatched: list[Skipped] = field(default_factory=list)  # whose? not guessed


def is_generic(stem: str, lesson_stem: str) -> bool:
    """Whether a file stem says nothing about its author (``Untitled``, the lesson's name...)."""
    text = COPY_PREFIX.sub("", stem.strip()).strip().lower()
    text = re.sub(r"[\s_-]*(\(\d+\)|\d+|final|v\d+|copy)$", "", text)
    number = lesson_stem.split("_")[0]
    return (not text or bool(GENERIC_STEMS.match(text)) or text == lesson_stem.lower()
            or text.startswith(number + "_") or text == number)


def lesson_score(path: Path, lesson_stem: str) -> int:
    """How much a file's name looks like the lesson's (higher is better; 0: not at all)."""
    stem = COPY_PREFIX.sub("", path.stem).lower()
    number, _, topic = lesson_stem.partition("_")
    notebook = path.suffix == ".ipynb"
    if stem == lesson_stem.lower():
        return 6 if notebook else 5
    if stem.startswith(number + "_") or stem.startswith(number + " "):
        return 4 if notebook else 3
    if topic and topic.lower() in stem.replace(" ", "_").replace("-", "_"):
        return 2 if notebook else 1
    return 0


def pick_lesson_file(paths: Sequence[Path], lesson_stem: str) -> tuple[Path | None, str]:
    """The file of one hand-in to grade: the one named like the lesson.

    Ties are broken by the newest modification time.  With no file named like the lesson, a
    single notebook (or a single file) is taken; otherwise nothing is (the reason says why).
    """
    if len(paths) == 1:
        return paths[0], ""
    scored = sorted(paths, key=lambda p: (lesson_score(p, lesson_stem), _mtime(p), p.name),
                    reverse=True)
    best = scored[0]
    if lesson_score(best, lesson_stem) > 0:
        return best, ""
    notebooks = [p for p in paths if p.suffix == ".ipynb"]
    if len(notebooks) == 1:
        return notebooks[0], ""
    names = ", ".join(sorted(p.name for p in paths))
    return None, (f"none of {names} is named like the lesson ({lesson_stem}.ipynb); "
                  "rename the file to grade, or hand in only one notebook")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUFFIXES
                  and not any(part in SKIPPED_PARTS or part.startswith(".")
                              for part in p.relative_to(folder).parts))


def list_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files named directly, plus the ``.ipynb``/``.py`` files under folders named.

    Raises
    ------
    ValueError
        If a path does not exist or nothing is found.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += _files_under(path)
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(message("file_missing", what="submission", path=path, fix=""))
    if not found:
        raise ValueError(message("grade_no_submissions", paths=", ".join(map(str, paths))))
    return found


@dataclass
class _Candidate:
    path: Path
    group: tuple[str, ...]  # files of one hand-in share a group
    names: list[str]  # candidate identities, most specific first
    layout: str
    late: bool = False
    lms_id: str = ""
    canvas_id: str = ""
    moodle_id: str = ""
    generic: bool = False


def _classify(path: Path, relative: tuple[str, ...], folder_layout: bool, direct: bool,
              lesson_stem: str) -> _Candidate:
    canvas = CANVAS_NAME.match(path.name)
    if canvas:
        user = canvas.group("user")
        return _Candidate(path, ("canvas", user, canvas.group("sub")),
                          [f"{canvas.group('name').lower()}-{user}"], "canvas",
                          late=bool(canvas.group("late")), lms_id=user, canvas_id=user)
    for part in reversed(relative[:-1] if not direct else (path.parent.name,)):
        moodle = MOODLE_FOLDER.match(part)
        if moodle:
            participant = moodle.group("participant")
            return _Candidate(path, ("moodle", part), [f"{moodle.group('name')}-{participant}"],
                              "moodle", lms_id=participant, moodle_id=participant)
    generic = is_generic(path.stem, lesson_stem)
    stem = COPY_PREFIX.sub("", path.stem).strip()
    if folder_layout and not direct and len(relative) >= 2:
        owner = next((part for part in relative[:-1] if part.lower() not in CONTAINERS),
                     relative[0])
        return _Candidate(path, ("folder", *relative[:-1]), [owner], "folder")
    if direct:
        parent = path.resolve().parent.name
        names = [parent] if generic else [stem, parent]
        return _Candidate(path, ("file", str(path)), names, "folder" if generic else "file",
                          generic=False)
    return _Candidate(path, ("file", *relative), [stem], "file", generic=generic)


def identify(paths: Sequence[str | os.PathLike[str]], lesson_stem: str,
             roster: Roster | None = None, known: Iterable[str] = ()) -> Identified:
    """Find the submissions under ``paths`` and say whose each is (see the module docstring).

    Parameters
    ----------
    paths : sequence of path
        Files, or folders searched for ``.ipynb``/``.py`` files.
    lesson_stem : str
        The lesson's file stem (``"05_grad_cam"``): picks the file of a hand-in with several.
    roster : Roster, optional
        When given, every identity must match one roster row.
    known : iterable of str
        Students already graded in the output folder: a file given directly whose own name is
        unknown but whose folder is a known student belongs to that student.

    Raises
    ------
    ValueError
        If a path does not exist or no submission file is found.
    """
    candidates: list[_Candidate] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = _files_under(path)
            relatives = [f.relative_to(path).parts for f in files]
            # one folder per student: every file is in a sub-folder (a stray generic file at the
            # top, a README or an Untitled notebook, does not change that; it is reported)
            folder_layout = any(len(r) >= 2 for r in relatives) and all(
                len(r) >= 2 or is_generic(Path(r[-1]).stem, lesson_stem) for r in relatives)
            candidates += [_classify(f, r, folder_layout, False, lesson_stem)
                           for f, r in zip(files, relatives)]
        elif path.is_file():
            candidates.append(_classify(path, (path.name,), False, True, lesson_stem))
        else:
            raise ValueError(message("file_missing", what="submission", path=path, fix=""))
    if not candidates:
        raise ValueError(message("grade_no_submissions", paths=", ".join(map(str, paths))))
    result = Identified()
    known = set(known)
    groups: dict[tuple[str, ...], list[_Candidate]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.group, []).append(candidate)
    for members in groups.values():
        chosen_path, reason = pick_lesson_file([m.path for m in members], lesson_stem)
        if chosen_path is None:
            result.unmatched += [Skipped(m.path, reason) for m in members]
            continue
        chosen = next(m for m in members if m.path == chosen_path)
        others = [m.path for m in members if m is not chosen]
        result.ignored += [Skipped(p, f"another file of the same hand-in was graded: "
                                      f"{chosen.path.name}") for p in others]
        found = _resolve(chosen, roster, known)
        if isinstance(found, Skipped):
            result.unmatched.append(found)
            continue
        if others:
            found.note = ("other files handed in and not graded (not named like the lesson): "
                          f"{', '.join(sorted(p.name for p in others))}")
        result.submissions.append(found)
    return result


def _resolve(candidate: _Candidate, roster: Roster | None, known: set[str]) -> Found | Skipped:
    if candidate.generic:
        return Skipped(candidate.path, (
            f"{candidate.path.name!r} does not say whose it is; put each student's file in a "
            "folder named after them, or name the file after the student"))
    if roster is None:
        names = candidate.names
        student = next((n for n in names if n in known), names[0])
        return Found(candidate.path, student, student, candidate.layout, candidate.late,
                     candidate.lms_id)
    reasons = []
    for text in candidate.names:
        plain = text.rsplit("-", 1)[0] if candidate.layout in ("canvas", "moodle") else text
        entry, reason = roster.match(plain, canvas_id=candidate.canvas_id,
                                     moodle_id=candidate.moodle_id)
        if entry is not None:
            return Found(candidate.path, entry.id, entry.name or entry.id, candidate.layout,
                         candidate.late, candidate.lms_id)
        reasons.append(reason)
    return Skipped(candidate.path, "; ".join(reasons))


__all__ = ["Found", "Identified", "Roster", "RosterEntry", "Skipped", "identify", "is_generic",
           "lesson_score", "list_files", "load_roster", "name_key", "pick_lesson_file", "safe_name"]

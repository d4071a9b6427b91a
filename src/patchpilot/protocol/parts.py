"""Split a record too large for one frame into parts, and join the parts back.

A frame is at most 1 MiB (protocol.MAX_FRAME); `scan.done` for 3,500 packages is 1.14 MB and
`round.result` more, so such records used to kill the client's writer and the run ended
unreachable. A record whose encoding passes `MAX_RECORD_BYTES` is written as parts: records
`<event>.part` carrying slices of its list and object fields, then the record itself with the
scalar fields, what is left of the lists and `"parts": N` (N records in all). `join_parts`
(used by the connector) concatenates lists and merges objects, so readers see one record,
in time linear in the items, and keeps at most MAX_PARTS parts of a record: a target that
sends more (200,000 tiny parts fit a round's journal) gets the rest dropped, not a
connector stalled. Pure functions, standard library only: the client writes parts, the
connector joins them.
"""

import json
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Set

__all__ = ["MAX_PARTS", "MAX_RECORD_BYTES", "PART_SUFFIX", "join_parts", "split_fields"]

MAX_RECORD_BYTES = 256 * 1024  # a record's fields; far below a frame, so batches stay small
PART_SUFFIX = ".part"
_CUT = 2000  # characters kept of a string in an item that alone passes the bound
# A record's parts: a round's whole journal (64 MiB) in parts of MAX_RECORD_BYTES needs 256.
MAX_PARTS = 1024


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) + 1


def _fit(item: Any, limit: int) -> Any:
    """Return item, its long strings cut when it alone would pass limit."""
    if _size(item) <= limit:
        return item
    if isinstance(item, str):
        return item[:_CUT] + "...(cut)"
    if isinstance(item, list):
        return [_fit(v, limit // max(len(item), 1)) for v in item][:1000]
    if isinstance(item, dict):
        return {k: _fit(v, limit // max(len(item), 1)) for k, v in list(item.items())[:1000]}
    return item


def split_fields(fields: Mapping[str, Any], limit: int = MAX_RECORD_BYTES) -> List[Dict[str, Any]]:
    """Return fields as one or more field sets, each encoding to about limit bytes at most.

    Lists and objects are cut into slices across the sets; everything else (and the list
    keys, possibly empty) goes into the last set, which gets `parts` when there are several.
    """
    if _size(fields) <= limit:
        return [dict(fields)]
    scalars = {k: _fit(v, limit // 4) for k, v in fields.items() if not isinstance(v, (list, dict))}
    budget = max(limit - _size(scalars) - 64, limit // 4)
    sets: List[Dict[str, Any]] = []
    current: Dict[str, Any] = {}
    used = 0
    for key, value in fields.items():
        if not isinstance(value, (list, dict)):
            continue
        items = value.items() if isinstance(value, dict) else value
        for item in items:
            item = _fit(item, budget // 2)
            cost = _size(item) + len(key)
            if current and used + cost > budget:
                sets.append(current)
                current, used = {}, 0
            if isinstance(value, dict):
                current.setdefault(key, {})[item[0]] = item[1]
            else:
                current.setdefault(key, []).append(item)
            used += cost
    last = {**{k: ({} if isinstance(v, dict) else []) for k, v in fields.items()
               if isinstance(v, (list, dict))}, **current, **scalars}  # fmt: skip
    sets.append(last)
    last["parts"] = len(sets)
    return sets


def _joined(parts: List[Mapping[str, Any]]) -> Dict[str, Any]:
    """Return the parts' fields merged: lists concatenated, objects merged, else the last.

    Each list or object is copied once and then extended in place: a new one per part made
    joining quadratic (80,000 parts: 14 s).
    """
    joined: Dict[str, Any] = {}
    owned: Set[str] = set()  # keys whose value is joined's own copy
    for fields in parts:
        for key, value in fields.items():
            held = joined.get(key)
            if isinstance(value, list) and isinstance(held, list):
                if key not in owned:
                    held = joined[key] = list(held)
                    owned.add(key)
                held.extend(value)
            elif isinstance(value, dict) and isinstance(held, dict):
                if key not in owned:
                    held = joined[key] = dict(held)
                    owned.add(key)
                held.update(value)
            else:
                joined[key] = value
                owned.discard(key)
    return joined


def join_parts(records: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Yield records with each split record's parts joined into it (parts themselves dropped).

    At most MAX_PARTS parts of a record are kept; later ones are dropped.
    """
    pending: Dict[str, List[Mapping[str, Any]]] = {}
    for record in records:
        event = str(record.get("event", ""))
        fields = record.get("fields")
        fields = fields if isinstance(fields, Mapping) else {}
        if event.endswith(PART_SUFFIX):
            held = pending.setdefault(event[: -len(PART_SUFFIX)], [])
            if len(held) < MAX_PARTS:
                held.append(fields)
            continue
        parts = pending.pop(event, [])
        if not parts:
            yield record
            continue
        parts.append(fields)
        yield dict(record, fields=_joined(parts))

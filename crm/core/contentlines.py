"""Content lines as vCard (RFC 6350) and iCalendar (RFC 5545) write them: the same
escaping of text values and the same folding of long lines."""

MAX_LINE = 75  # octets per line before folding


def escape(value: str) -> str:
    """A TEXT value: backslash, comma, semicolon and new lines escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace(";", "\\;")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """The content line split into lines of at most 75 octets, each continued by a space,
    and ended by CRLF."""
    parts, current, size = [], "", 0
    for char in line:
        width = len(char.encode())
        if size + width > MAX_LINE:
            parts.append(current)
            current, size = " ", 1
        current += char
        size += width
    parts.append(current)
    return "\r\n".join(parts) + "\r\n"

using System.Buffers.Text;
using System.Text;

namespace Ingestion.Workers.Csv;

/// <summary>
/// Parses field values straight from the UTF-8 bytes CsvHelper hands out, without
/// decoding them into strings. Each parser accepts exactly one spelling family and
/// says nothing about why it failed; <see cref="RowConverter"/> words the reason.
/// </summary>
internal static class Utf8Fields
{
    public static bool TryParseInt64(ReadOnlySpan<byte> field, out long value)
    {
        if (field.Length > 0 && field[0] == (byte)'+')
        {
            field = field[1..];
            if (field.Length > 0 && field[0] == (byte)'-')
            {
                value = 0;
                return false;
            }
        }

        return Utf8Parser.TryParse(field, out value, out var consumed) && consumed == field.Length && field.Length > 0;
    }

    /// <summary>Digits with an optional sign, however many: an integer, if perhaps too large for its type.</summary>
    public static bool IsWholeNumber(ReadOnlySpan<byte> field)
    {
        if (field.Length > 0 && field[0] is (byte)'+' or (byte)'-')
        {
            field = field[1..];
        }

        return field.Length > 0 && !field.ContainsAnyExceptInRange((byte)'0', (byte)'9');
    }

    public static bool TryParseDecimal(ReadOnlySpan<byte> field, out decimal value)
    {
        if (field.Length > 0 && field[0] == (byte)'+')
        {
            field = field[1..];
        }

        // 'F': plain digits with an optional point; no exponents, no thousands separators.
        return Utf8Parser.TryParse(field, out value, out var consumed, 'F') && consumed == field.Length && field.Length > 0;
    }

    public static bool TryParseGuid(ReadOnlySpan<byte> field, out Guid value)
    {
        value = Guid.Empty;
        var format = field.Length switch
        {
            36 => 'D',
            32 => 'N',
            _ => '\0',
        };
        return format != '\0' && Utf8Parser.TryParse(field, out value, out var consumed, format) && consumed == field.Length;
    }

    /// <summary><c>true</c>/<c>false</c>, <c>t</c>/<c>f</c>, <c>yes</c>/<c>no</c>, <c>y</c>/<c>n</c>, <c>1</c>/<c>0</c>, in any case.</summary>
    public static bool TryParseBoolean(ReadOnlySpan<byte> field, out bool value)
    {
        Span<byte> lower = stackalloc byte[5];
        value = false;
        if (field.Length > lower.Length)
        {
            return false;
        }

        for (var i = 0; i < field.Length; i++)
        {
            lower[i] = (byte)(field[i] | 0x20);
        }

        ReadOnlySpan<byte> word = lower[..field.Length];
        if (word.SequenceEqual("true"u8) || word.SequenceEqual("t"u8) || word.SequenceEqual("yes"u8)
            || word.SequenceEqual("y"u8) || word.SequenceEqual("1"u8))
        {
            value = true;
            return true;
        }

        return word.SequenceEqual("false"u8) || word.SequenceEqual("f"u8) || word.SequenceEqual("no"u8)
            || word.SequenceEqual("n"u8) || word.SequenceEqual("0"u8);
    }

    /// <summary><c>YYYY-MM-DD</c>.</summary>
    public static bool TryParseDate(ReadOnlySpan<byte> field, out DateOnly value)
    {
        value = default;
        return field.Length == 10 && TryDate(field, out value);
    }

    /// <summary>
    /// ISO 8601: <c>YYYY-MM-DD</c>, then optionally <c>T</c> or a space, <c>HH:MM[:SS[.fraction]]</c>
    /// and an offset (<c>Z</c>, <c>±HH</c>, <c>±HHMM</c>, <c>±HH:MM</c>). A time without an offset
    /// is UTC. Returns the instant in UTC.
    /// </summary>
    public static bool TryParseTimestamp(ReadOnlySpan<byte> field, out DateTime utc)
    {
        utc = default;
        if (field.Length < 10 || !TryDate(field[..10], out var date))
        {
            return false;
        }

        var time = TimeSpan.Zero;
        var offset = TimeSpan.Zero;
        var rest = field[10..];
        if (rest.Length > 0)
        {
            if (rest[0] is not ((byte)'T' or (byte)'t' or (byte)' ') || rest.Length < 6
                || !TwoDigits(rest[1..], out var hour) || rest[3] != (byte)':' || !TwoDigits(rest[4..], out var minute)
                || hour > 23 || minute > 59)
            {
                return false;
            }

            long ticks = (hour * 60L + minute) * TimeSpan.TicksPerMinute;
            rest = rest[6..];
            if (rest.Length >= 3 && rest[0] == (byte)':')
            {
                if (!TwoDigits(rest[1..], out var second) || second > 59)
                {
                    return false;
                }

                ticks += second * TimeSpan.TicksPerSecond;
                rest = rest[3..];
                if (rest.Length >= 2 && rest[0] is (byte)'.' or (byte)',')
                {
                    var digits = 1;
                    long fraction = 0;
                    var scale = TimeSpan.TicksPerSecond;
                    while (digits < rest.Length && IsDigit(rest[digits]))
                    {
                        if (scale > 1)
                        {
                            scale /= 10;
                            fraction += (rest[digits] - '0') * scale;
                        }

                        digits++;
                    }

                    if (digits == 1)
                    {
                        return false;
                    }

                    ticks += fraction;
                    rest = rest[digits..];
                }
            }

            time = TimeSpan.FromTicks(ticks);
            if (!TryOffset(rest, out offset))
            {
                return false;
            }
        }

        utc = DateTime.SpecifyKind(date.ToDateTime(TimeOnly.MinValue) + time - offset, DateTimeKind.Utc);
        return true;
    }

    /// <summary>Characters (code points) in valid UTF-8, as <c>char(n)</c> and <c>varchar(n)</c> count them.</summary>
    public static int CountCharacters(ReadOnlySpan<byte> utf8)
    {
        var count = 0;
        foreach (var b in utf8)
        {
            if ((b & 0xC0) != 0x80)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>A field for a message: decoded, and cut to a readable length.</summary>
    public static string Quote(ReadOnlySpan<byte> field)
    {
        const int max = 40;
        var text = Encoding.UTF8.GetString(field.Length > max * 4 ? field[..(max * 4)] : field);
        return "\"" + (text.Length > max ? text[..max] + "…" : text) + "\"";
    }

    private static bool TryOffset(ReadOnlySpan<byte> rest, out TimeSpan offset)
    {
        offset = TimeSpan.Zero;
        if (rest.IsEmpty)
        {
            return true;
        }

        if (rest.Length == 1 && rest[0] is (byte)'Z' or (byte)'z')
        {
            return true;
        }

        if (rest[0] is not ((byte)'+' or (byte)'-') || !TwoDigits(rest[1..], out var hours) || hours > 18)
        {
            return false;
        }

        var minutes = 0;
        var tail = rest[3..];
        if (tail.Length > 0 && tail[0] == (byte)':')
        {
            tail = tail[1..];
        }

        if (tail.Length == 2 ? !TwoDigits(tail, out minutes) || minutes > 59 : tail.Length != 0)
        {
            return false;
        }

        offset = new TimeSpan(hours, minutes, 0);
        if (rest[0] == (byte)'-')
        {
            offset = -offset;
        }

        return true;
    }

    private static bool TryDate(ReadOnlySpan<byte> field, out DateOnly value)
    {
        value = default;
        if (field[4] != (byte)'-' || field[7] != (byte)'-'
            || !TwoDigits(field, out var century) || !TwoDigits(field[2..], out var yy)
            || !TwoDigits(field[5..], out var month) || !TwoDigits(field[8..], out var day))
        {
            return false;
        }

        var year = century * 100 + yy;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month))
        {
            return false;
        }

        value = new DateOnly(year, month, day);
        return true;
    }

    private static bool TwoDigits(ReadOnlySpan<byte> s, out int value)
    {
        value = 0;
        if (s.Length < 2 || !IsDigit(s[0]) || !IsDigit(s[1]))
        {
            return false;
        }

        value = (s[0] - '0') * 10 + (s[1] - '0');
        return true;
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';
}

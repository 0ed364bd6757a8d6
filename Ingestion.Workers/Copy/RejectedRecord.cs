using System.Globalization;
using System.Text;

namespace Ingestion.Workers.Copy;

/// <summary>
/// A rejected record as it is kept, until its batch commits and in the rejects file: whole up to
/// a byte cap, otherwise its first bytes followed by a marker with its whole length,
/// <c>…[truncated: 1048576 bytes]</c>. A record may be as long as <c>MaxRecordBytes</c>, and a
/// crafted file of such records must not cost a worker more than the cap for each.
/// </summary>
internal static class RejectedRecord
{
    /// <summary>The marker's longest form: "…" (3 bytes), "[truncated: ", ten digits, " bytes]".</summary>
    public const int MaxMarkerBytes = 3 + 12 + 10 + 7;

    public static bool IsCut(int length, int cap) => length > cap;

    /// <summary>The record as kept, in a new array (rejects are few; each is held until its batch commits).</summary>
    public static byte[] Keep(ReadOnlySpan<byte> raw, int cap)
    {
        if (!IsCut(raw.Length, cap))
        {
            return raw.ToArray();
        }

        var kept = new byte[cap + MaxMarkerBytes];
        return kept[..Write(raw, cap, kept)];
    }

    /// <summary>Writes the record as kept into <paramref name="into"/> (at least cap + <see cref="MaxMarkerBytes"/>); returns its length.</summary>
    public static int Write(ReadOnlySpan<byte> raw, int cap, Span<byte> into)
    {
        if (!IsCut(raw.Length, cap))
        {
            raw.CopyTo(into);
            return raw.Length;
        }

        // Cut before a UTF-8 continuation byte, so a record that was valid text stays valid text.
        var cut = cap;
        while (cut > cap - 3 && cut > 0 && (raw[cut] & 0xC0) == 0x80)
        {
            cut--;
        }

        raw[..cut].CopyTo(into);
        var marker = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"…[truncated: {raw.Length} bytes]"));
        marker.CopyTo(into[cut..]);
        return cut + marker.Length;
    }
}

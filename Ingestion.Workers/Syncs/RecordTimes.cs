using System.Globalization;
using System.Text.Json;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// A record's time as upstreams write it, in one response even (seed 004): an ISO 8601 string, or
/// Unix seconds or milliseconds as a number or a string of digits, told apart by size.
/// </summary>
public static class RecordTimes
{
    /// <summary>Below this a Unix time is in seconds (1e11 s is the year 5138; 1e11 ms is 1973).</summary>
    public const double MillisecondsFrom = 100_000_000_000;

    /// <summary>Reads a Unix time; false when <paramref name="value"/> is not a number (an ISO 8601 string); <paramref name="time"/> null when out of range.</summary>
    public static bool IsUnixTime(JsonElement value, out DateTime? time)
    {
        time = null;
        double number;
        if (value.ValueKind == JsonValueKind.Number)
        {
            number = value.GetDouble();
        }
        else if (value.ValueKind == JsonValueKind.String && JsonText.TryGetString(value, out var text, out _) && text.Length > 0
                 && text.All(c => char.IsAsciiDigit(c) || c == '.' || c == '-')
                 && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed))
        {
            number = parsed;
        }
        else
        {
            return false;
        }

        var milliseconds = Math.Abs(number) >= MillisecondsFrom ? number : number * 1000;
        if (double.IsNaN(milliseconds) || milliseconds < -62_135_596_800_000 || milliseconds > 253_402_300_799_000)
        {
            return true;
        }

        time = DateTime.UnixEpoch.AddTicks((long)Math.Round(milliseconds * TimeSpan.TicksPerMillisecond));
        return true;
    }

    public static bool TryRead(JsonElement value, out DateTimeOffset time)
    {
        time = default;
        if (IsUnixTime(value, out var unix))
        {
            if (unix is null)
            {
                return false;
            }

            time = new DateTimeOffset(unix.Value, TimeSpan.Zero);
            return true;
        }

        return value.ValueKind == JsonValueKind.String && JsonText.TryGetString(value, out var text, out _)
               && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out time);
    }
}

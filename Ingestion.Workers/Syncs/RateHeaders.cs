using System.Globalization;
using System.Net.Http.Headers;

namespace Ingestion.Workers.Syncs;

/// <summary>What one response said about the credential's rate budget.</summary>
/// <param name="Limit">Requests allowed per window, when the upstream says.</param>
/// <param name="Remaining">Requests left in the current window.</param>
/// <param name="ResetAt">When the current window ends.</param>
/// <param name="WindowSeconds">The window's length, when the upstream declares its policy (IETF <c>RateLimit-Policy</c>).</param>
/// <param name="RetryAt">From <c>Retry-After</c>: nobody asks before then. It wins over everything else.</param>
public sealed record RateSignal(int? Limit, int? Remaining, DateTimeOffset? ResetAt, int? WindowSeconds, DateTimeOffset? RetryAt)
{
    public static readonly RateSignal None = new(null, null, null, null, null);

    /// <summary>Until when the budget is spent, by what the upstream said; null when it may be asked now.</summary>
    public DateTimeOffset? BlockedUntil => RetryAt ?? (Remaining <= 0 ? ResetAt : null);
}

/// <summary>
/// Reads the rate-limit conventions upstreams use:
/// <list type="bullet">
/// <item><c>X-RateLimit-Limit/-Remaining/-Reset</c>, where the reset is seconds from now (seed 004's
/// upstream) or an epoch time (GitHub) — a value larger than a year of seconds is taken as an epoch
/// time, in milliseconds when it is larger still;</item>
/// <item>the IETF fields: <c>RateLimit-Policy: 10;w=60</c> (or <c>"default";q=10;w=60</c>) and
/// <c>RateLimit: limit=10, remaining=4, reset=30</c> (or <c>"default";r=4;t=30</c>), whose reset is
/// always seconds from now, as are <c>RateLimit-Limit/-Remaining/-Reset</c>;</item>
/// <item><c>Retry-After</c>, seconds or an HTTP date.</item>
/// </list>
/// </summary>
public static class RateHeaders
{
    /// <summary>A relative reset is never longer than a year; anything larger is a point in time.</summary>
    private const long LargestRelativeSeconds = 366L * 24 * 3600;

    public static RateSignal Read(HttpResponseHeaders headers, DateTimeOffset now)
    {
        int? limit = null, remaining = null, window = null;
        DateTimeOffset? reset = null, retry = null;

        if (headers.RetryAfter is { } retryAfter)
        {
            retry = retryAfter.Delta is { } delta ? now + delta : retryAfter.Date;
        }
        else if (First(headers, "Retry-After") is { } raw)
        {
            retry = ParseRetryAfter(raw, now);
        }

        limit = Int(First(headers, "X-RateLimit-Limit")) ?? Int(First(headers, "RateLimit-Limit"));
        remaining = Int(First(headers, "X-RateLimit-Remaining")) ?? Int(First(headers, "RateLimit-Remaining"));
        if (Long(First(headers, "X-RateLimit-Reset")) is { } xReset)
        {
            reset = ResetAt(xReset, now);
        }
        else if (Long(First(headers, "RateLimit-Reset")) is { } ietfReset)
        {
            reset = now.AddSeconds(ietfReset);
        }

        if (First(headers, "RateLimit-Policy") is { } policy)
        {
            var (quota, seconds) = ParsePolicy(policy);
            limit ??= quota;
            window = seconds;
        }

        if (First(headers, "RateLimit") is { } field)
        {
            var parameters = Parameters(field);
            limit ??= Int(parameters.GetValueOrDefault("limit"));
            remaining ??= Int(parameters.GetValueOrDefault("remaining") ?? parameters.GetValueOrDefault("r"));
            if (Long(parameters.GetValueOrDefault("reset") ?? parameters.GetValueOrDefault("t")) is { } seconds)
            {
                reset ??= now.AddSeconds(seconds);
            }
        }

        return new RateSignal(limit, remaining, reset, window, retry);
    }

    /// <summary>Seconds from now, or an epoch time in seconds or milliseconds: told apart by size.</summary>
    public static DateTimeOffset ResetAt(long value, DateTimeOffset now) => value switch
    {
        <= LargestRelativeSeconds => now.AddSeconds(Math.Max(0, value)),
        < 100_000_000_000 => DateTimeOffset.FromUnixTimeSeconds(value),
        _ => DateTimeOffset.FromUnixTimeMilliseconds(value),
    };

    public static DateTimeOffset? ParseRetryAfter(string value, DateTimeOffset now)
    {
        value = value.Trim();
        if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return now.AddSeconds(seconds);
        }

        return DateTimeOffset.TryParseExact(value, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date)
            ? date
            : null;
    }

    /// <summary><c>10;w=60</c>, or the structured form <c>"name";q=10;w=60</c>.</summary>
    public static (int? Quota, int? WindowSeconds) ParsePolicy(string value)
    {
        var first = value.Split(',')[0];
        var parts = first.Split(';', StringSplitOptions.TrimEntries);
        var quota = Int(parts[0]);
        var parameters = Parameters(string.Join(',', parts.Skip(1)));
        quota ??= Int(parameters.GetValueOrDefault("q"));
        return (quota, Int(parameters.GetValueOrDefault("w")));
    }

    private static Dictionary<string, string> Parameters(string value)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in value.Split([',', ';'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = part.IndexOf('=');
            if (equals > 0)
            {
                result.TryAdd(part[..equals].Trim(), part[(equals + 1)..].Trim().Trim('"'));
            }
        }

        return result;
    }

    private static string? First(HttpResponseHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    private static int? Int(string? value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var result) ? result : null;

    private static long? Long(string? value) =>
        long.TryParse(value?.Split('.')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var result) ? result : null;
}

using System.Diagnostics;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// Where PostgreSQL's clock stands against this worker's monotonic clock, as closely as the budget's
/// answers tell. An answer read PostgreSQL's clock somewhere between the question and the answer, so
/// it places that clock within half its round trip; the tightest recent reading is kept (NTP's idea),
/// its bound widened with its age. A slow answer from a busy database then does not make its slot's
/// moment as uncertain as its own round trip. Only this worker's own timing depends on it: the slots
/// themselves are PostgreSQL's.
/// </summary>
internal sealed class DatabaseClock
{
    /// <summary>How fast a kept reading's bound widens: two clocks' rates differ by far less than this (100 µs a second).</summary>
    private const double DriftPerSecond = 100e-6;

    private readonly object _gate = new();
    private long _offset;
    private long _error = long.MaxValue;
    private long _readAt;

    /// <summary>
    /// Takes a reading (PostgreSQL's clock, read between the two <see cref="Stopwatch"/> timestamps) and
    /// answers where a moment of PostgreSQL's clock falls on this worker's: the earliest and latest
    /// <see cref="Stopwatch"/> timestamps it can be.
    /// </summary>
    public (long Earliest, long Latest) Place(DateTime moment, DateTime databaseNow, long askedAt, long answeredAt)
    {
        var half = (answeredAt - askedAt) / 2;
        var offset = databaseNow.Ticks - ToTicks(askedAt + half);
        long bestOffset, bestError;
        lock (_gate)
        {
            if (ToTicks(half) <= ErrorNow(answeredAt))
            {
                (_offset, _error, _readAt) = (offset, ToTicks(half), answeredAt);
            }

            (bestOffset, bestError) = (_offset, ErrorNow(answeredAt));
        }

        var local = moment.Ticks - bestOffset;
        return (FromTicks(local - bestError), FromTicks(local + bestError));
    }

    /// <summary>Whether any reading was taken yet.</summary>
    public bool Known
    {
        get
        {
            lock (_gate)
            {
                return _error != long.MaxValue;
            }
        }
    }

    /// <summary>How wide a moment's place on this worker's clock is now (<see cref="Place"/>'s latest less its earliest); zero before any reading.</summary>
    public TimeSpan Uncertainty(long now)
    {
        lock (_gate)
        {
            var error = ErrorNow(now);
            return error == long.MaxValue ? TimeSpan.Zero : TimeSpan.FromTicks(2 * error);
        }
    }

    private long ErrorNow(long now) => _error == long.MaxValue
        ? long.MaxValue
        : _error + (long)(Stopwatch.GetElapsedTime(_readAt, now).Ticks * DriftPerSecond);

    private static long ToTicks(long timestamp) => (long)(timestamp * ((double)TimeSpan.TicksPerSecond / Stopwatch.Frequency));

    private static long FromTicks(long ticks) => (long)(ticks * ((double)Stopwatch.Frequency / TimeSpan.TicksPerSecond));
}

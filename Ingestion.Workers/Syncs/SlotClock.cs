using System.Diagnostics;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// Wakes the rate budget's waiters at their slots, on a thread of its own. A slot is a moment: a
/// timer's continuation on the thread pool waits behind whatever the pool is busy with (a page being
/// parsed, rows being mapped), and a request sent late crowds the one a window after it, so a late
/// wake-up past its grant's end costs the slot (<see cref="RateBudget.MinTolerance"/>). Here a waiter's continuation runs on
/// this thread at once, up to its request's first await: the request leaves at its slot whatever the
/// pool is doing. Ordered by due time; a cancelled waiter is simply passed over when its time comes.
/// </summary>
internal sealed class SlotClock : IDisposable
{
    private readonly PriorityQueue<TaskCompletionSource, long> _due = new();
    private readonly object _gate = new();
    private bool _stopped;

    public SlotClock() => new Thread(Run) { IsBackground = true, Name = "rate budget slots" }.Start();

    /// <summary>Completes at <paramref name="due"/>, a <see cref="Stopwatch"/> timestamp; its continuation runs on the clock's thread.</summary>
    public async Task WaitUntilAsync(long due, CancellationToken cancellationToken)
    {
        // Not RunContinuationsAsynchronously: the point is that the waiter goes on from here, not from the pool's queue.
        var waiter = new TaskCompletionSource();
        lock (_gate)
        {
            _due.Enqueue(waiter, due);
            Monitor.Pulse(_gate);
        }

        using (cancellationToken.UnsafeRegister(static (state, token) => ((TaskCompletionSource)state!).TrySetCanceled(token), waiter))
        {
            await waiter.Task;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopped = true;
            Monitor.Pulse(_gate);
        }
    }

    private void Run()
    {
        while (true)
        {
            TaskCompletionSource next;
            lock (_gate)
            {
                while (true)
                {
                    if (_stopped)
                    {
                        return;
                    }

                    if (_due.TryPeek(out var waiter, out var due))
                    {
                        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                        if (left <= TimeSpan.Zero)
                        {
                            next = _due.Dequeue();
                            break;
                        }

                        Monitor.Wait(_gate, left);
                    }
                    else
                    {
                        Monitor.Wait(_gate);
                    }
                }
            }

            next.TrySetResult();
        }
    }
}

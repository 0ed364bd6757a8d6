using Ingestion.Contracts;
using Ingestion.Platform.Jobs;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// A retry starts the job's next attempt; what an earlier attempt's worker says afterwards (a
/// redelivered failure, a fault, progress) is history and must change nothing, not even send a
/// webhook. A message without a number (0, from before attempts were counted) is taken as current.
/// </summary>
internal static class Attempts
{
    public static bool IsCurrent(JobState job, IAttemptMessage message) =>
        message.Attempt == 0 || message.Attempt >= job.Attempt;
}

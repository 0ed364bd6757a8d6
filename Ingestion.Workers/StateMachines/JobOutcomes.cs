using Ingestion.Contracts.Jobs;
using Ingestion.Platform.Jobs;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// What the job layer tells other services of a job, whatever its kind (Ingestion.Contracts.Jobs):
/// that it was accepted, and how it ended. Built from the job's state only, through the registry
/// (<see cref="JobKinds"/>), so a new kind gets them without code of its own.
/// </summary>
internal static class JobOutcomes
{
    public static JobAccepted Accepted(JobState job) =>
        new(job.CorrelationId, job.Kind, job.TenantId, job.CurrentState.ToLowerInvariant(), job.CreatedAt, Links(job));

    public static JobCompleted Completed(JobState job) =>
        new(job.CorrelationId, job.Kind, job.TenantId, Counts(job), Links(job), job.Attempt, EndedAt(job));

    public static JobFailed Failed(JobState job) =>
        new(job.CorrelationId, job.Kind, job.TenantId, Counts(job),
            job.Error is { } error
                ? new JobFailure(error.Code, error.Message)
                : new JobFailure("unknown", "The job failed without recording why."),
            Links(job), job.Attempt, EndedAt(job));

    public static JobCancelled Cancelled(JobState job) =>
        new(job.CorrelationId, job.Kind, job.TenantId, Counts(job), job.CancelledBy, Links(job), job.Attempt, EndedAt(job));

    /// <summary>A copy: the event must not change with the job once it is written.</summary>
    private static Dictionary<string, long> Counts(JobState job) => new(JobKinds.Of(job).Counts(job));

    /// <summary>The paths the jobs API serves for every kind (as <c>GET /v1/jobs/{id}</c> links them), then the kind's own.</summary>
    private static Dictionary<string, string> Links(JobState job)
    {
        var self = $"/v1/jobs/{job.CorrelationId}";
        var links = new Dictionary<string, string> { ["self"] = self };
        if (JobKind.CanRetry(job.CurrentState))
        {
            links["retry"] = $"{self}/retry";
        }

        foreach (var (name, path) in JobKinds.Of(job).OutcomeLinks(job))
        {
            links[name] = path;
        }

        return links;
    }

    private static DateTimeOffset EndedAt(JobState job) => job.CompletedAt ?? DateTimeOffset.UtcNow;
}

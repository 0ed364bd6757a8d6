using Ingestion.Platform.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Jobs;

/// <summary>202 for a job that was accepted (or had been, for a repeated request).</summary>
public sealed record JobAccepted(Guid JobId, string Status, string StatusUrl);

/// <summary>
/// <c>Idempotency-Key</c>: a client that repeats a request with the same key gets the job
/// the first one created, not a second job. A unique index on (tenant, key) settles races.
/// </summary>
public static class Idempotency
{
    public const string Header = "Idempotency-Key";

    /// <summary>The request's key, or a problem when it is malformed.</summary>
    public static ProblemHttpResult? Read(HttpRequest request, out string? key)
    {
        key = request.Headers[Header].FirstOrDefault();
        return key is not null && (key.Length is 0 or > 255 || key.Any(c => c is < '!' or > '~'))
            ? TypedResults.Problem(statusCode: 400, title: "Invalid Idempotency-Key", detail: "Use 1 to 255 visible ASCII characters, e.g. a UUID.")
            : null;
    }

    /// <summary>The earlier job again, unless the key was used for a different request.</summary>
    public static Results<Accepted<JobAccepted>, ProblemHttpResult> Replay(HttpContext context, JobState earlier, bool sameRequest,
        string earlierRequest)
    {
        if (!sameRequest)
        {
            return TypedResults.Problem(statusCode: 422, title: "Idempotency-Key reused",
                detail: $"This key already named {earlierRequest}; use a new key for a different request.");
        }

        context.Response.Headers["Idempotent-Replayed"] = "true";
        return Accepted(earlier);
    }

    public static Accepted<JobAccepted> Accepted(JobState job)
    {
        var statusUrl = JobsApi.StatusUrl(job.CorrelationId);
        return TypedResults.Accepted(statusUrl, new JobAccepted(job.CorrelationId, JobView.StatusOf(job), statusUrl));
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using Ingestion.Platform.Jobs;

namespace Ingestion.Platform.Webhooks;

/// <summary>What a job's callback URL receives when the job ends.</summary>
public sealed record WebhookPayload(
    Guid JobId,
    string Kind,
    string Status,
    IReadOnlyDictionary<string, long> Counts,
    WebhookError? Error,
    DateTimeOffset Timestamp)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static WebhookPayload For(JobState job) => new(
        job.CorrelationId,
        job.Kind,
        job.CurrentState.ToLowerInvariant(),
        JobKinds.Of(job).Counts(job),
        job.Error is null ? null : new WebhookError(job.Error.Code, job.Error.Message),
        job.CompletedAt ?? job.UpdatedAt);
}

public sealed record WebhookError(string Code, string Message);

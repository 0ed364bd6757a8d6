using System.Text.Json;
using Ingestion.Api.Jobs;
using Ingestion.Api.Security;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Webhooks;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Webhooks;

public static class WebhooksApi
{
    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/jobs/{jobId:guid}/webhooks").WithTags("Webhooks");
        api.MapGet("/", ListDeliveries);
        api.MapPost("/{deliveryId:guid}/redeliver", Redeliver).RequireAuthorization(SecurityExtensions.OpsPolicy);
        return app;
    }

    /// <param name="NextAttemptAt">When the next attempt is due, while the delivery is pending.</param>
    /// <param name="History">Every attempt: its number, start, the receiver's status code or the error, and how long it took.</param>
    public sealed record DeliveryView(Guid DeliveryId, string Url, string Status, int Attempts, DateTimeOffset? NextAttemptAt,
        JsonElement Payload, IReadOnlyList<WebhookAttempt> History);

    public sealed record JobWebhooks(Guid JobId, IReadOnlyList<DeliveryView> Deliveries);

    /// <summary>The webhooks a job has sent or still owes, each with every attempt made.</summary>
    public static async Task<Results<Ok<JobWebhooks>, ProblemHttpResult>> ListDeliveries(Guid jobId, HttpContext context, JobStore jobs,
        WebhookDeliveries deliveries, CancellationToken cancellationToken)
    {
        if (await FindAsync(jobId, context, jobs, cancellationToken) is { } missing)
        {
            return missing;
        }

        var views = (await deliveries.ForJobAsync(jobId, cancellationToken))
            .Select(d => new DeliveryView(d.Id, d.Url, d.Status, d.Attempts,
                d.Status == WebhookStatus.Pending ? d.NextAttemptAt : null, d.Payload, d.History))
            .ToList();
        return TypedResults.Ok(new JobWebhooks(jobId, views));
    }

    /// <summary>Operators: one more attempt for a delivery that gave up (the receiver is fixed now).</summary>
    public static async Task<Results<Accepted, ProblemHttpResult>> Redeliver(Guid jobId, Guid deliveryId, HttpContext context,
        JobStore jobs, WebhookDeliveries deliveries, CancellationToken cancellationToken)
    {
        if (await FindAsync(jobId, context, jobs, cancellationToken) is { } missing)
        {
            return missing;
        }

        if (!await deliveries.RedeliverAsync(jobId, deliveryId, Caller.From(context.User).Actor, cancellationToken))
        {
            return TypedResults.Problem(statusCode: 409, title: "Only a delivery that gave up can be redelivered",
                detail: $"Job {jobId} has no delivery {deliveryId} that gave up; see /v1/jobs/{jobId}/webhooks.");
        }

        return TypedResults.Accepted($"/v1/jobs/{jobId}/webhooks");
    }

    private static async Task<ProblemHttpResult?> FindAsync(Guid jobId, HttpContext context, JobStore jobs, CancellationToken cancellationToken)
    {
        return await jobs.FindForAsync(Caller.From(context.User), jobId, cancellationToken) is null ? JobsApi.NotFound(jobId) : null;
    }
}

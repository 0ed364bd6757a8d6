using System.Globalization;
using Ingestion.Api.Security;
using Ingestion.Platform.Outbox;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Ops;

/// <summary>
/// The outbox rows the relay set aside because they cannot become a message, listed with the
/// reason, and sent back once fixed. Mapped by <see cref="OpsApi"/>, behind its ops policy.
/// </summary>
public static class OutboxOps
{
    private const int DefaultPageSize = 50;
    private const int MaxPageSize = 500;

    public sealed record PoisonedView(IReadOnlyList<PoisonedMessage> Messages, long Count, string? Next);

    public sealed record Redelivered(long Id, long OutboxId, string MessageType, string? Destination);

    /// <summary>Set-aside rows, oldest first; <c>next</c> pages on. <c>count</c> is how many there are from <c>after</c> on.</summary>
    public static async Task<Results<Ok<PoisonedView>, ProblemHttpResult>> ListPoisoned(PoisonedMessages poisoned, long? after, int? limit,
        CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxPageSize || after is < 0)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid query",
                detail: $"limit must be between 1 and {MaxPageSize}, after 0 or more.");
        }

        var size = limit ?? DefaultPageSize;
        var (messages, count) = await poisoned.ListAsync(after ?? 0, size, cancellationToken);
        var next = messages.Count == size && count > size
            ? $"/v1/ops/outbox?after={messages[^1].Id.ToString(CultureInfo.InvariantCulture)}&limit={size.ToString(CultureInfo.InvariantCulture)}"
            : null;
        return TypedResults.Ok(new PoisonedView(messages, count, next));
    }

    /// <summary>Puts a fixed row back into the outbox, where the relay sends it; refused while it still cannot be read.</summary>
    public static async Task<Results<Accepted<Redelivered>, ProblemHttpResult>> RedeliverPoisoned(long id, HttpContext context,
        PoisonedMessages poisoned, CancellationToken cancellationToken)
    {
        var done = await poisoned.RedeliverAsync(id, Caller.From(context.User).Actor, cancellationToken);
        if (done is null)
        {
            return TypedResults.Problem(statusCode: 404, title: "Unknown poisoned message",
                detail: $"No outbox message {id} is set aside (it may have been redelivered already); GET /v1/ops/outbox lists them.");
        }

        if (done.StillPoisoned is { } reason)
        {
            return TypedResults.Problem(statusCode: 409, title: "The message still cannot be read",
                detail: $"Outbox message {id} would be set aside again: {reason} Fix the row in ingestion.outbox_poisoned first.");
        }

        var message = done.Message!;
        return TypedResults.Accepted("/v1/ops/outbox", new Redelivered(id, done.OutboxId!.Value, message.MessageType, message.Destination));
    }
}

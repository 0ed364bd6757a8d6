using System.Text.Json;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingestion.Platform.Outbox;

/// <summary>An outbox row set aside because it cannot become a message, and why.</summary>
public sealed record PoisonedMessage(long Id, string MessageType, string? Destination, JsonElement Body, DateTimeOffset CreatedAt,
    DateTimeOffset PoisonedAt, string Error);

/// <summary>What a redelivery did: the row went back to the outbox as <paramref name="OutboxId"/>, or was refused.</summary>
public sealed record PoisonedRedelivery(PoisonedMessage? Message, long? OutboxId, string? StillPoisoned);

/// <summary>
/// Outbox rows the relay set aside (<c>ingestion.outbox_poisoned</c>): an unknown message type,
/// a body that does not fit its type, a destination that is no address. They wait there, out of
/// the relay's way, until an operator fixes the row (or deploys the contract it names) and sends
/// it back to the outbox, where the relay picks it up like any other.
/// </summary>
public sealed class PoisonedMessages(NpgsqlDataSource dataSource, ILogger<PoisonedMessages> logger)
{
    private const string SetAsideSql = """
        with moved as (
            delete from ingestion.outbox where id = @id
            returning id, message_type, body, destination, trace_parent, created_at)
        insert into ingestion.outbox_poisoned (id, message_type, body, destination, trace_parent, created_at, error)
        select id, message_type, body, destination, trace_parent, created_at, @error from moved
        """;

    private const string Columns = "id, message_type, body::text, destination, created_at, poisoned_at, error";

    private const string ListSql = $"""
        select {Columns}, count(*) over () from ingestion.outbox_poisoned
        where id > @after order by id limit @limit
        """;

    private const string LockSql = $"select {Columns} from ingestion.outbox_poisoned where id = @id for update";

    private const string RequeueSql = """
        with moved as (delete from ingestion.outbox_poisoned where id = @id returning message_type, body, destination, trace_parent)
        insert into ingestion.outbox (message_type, body, destination, trace_parent)
        select message_type, body, destination, trace_parent from moved
        returning id
        """;

    /// <summary>Moves outbox row <paramref name="id"/> aside with <paramref name="error"/>, in the caller's transaction.</summary>
    internal static async Task SetAsideAsync(NpgsqlConnection connection, long id, string error, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(SetAsideSql, connection);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("error", error);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Up to <paramref name="limit"/> rows after <paramref name="after"/>, oldest first, and how many there are from there on.</summary>
    public async Task<(IReadOnlyList<PoisonedMessage> Messages, long Remaining)> ListAsync(long after, int limit,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ListSql);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var messages = new List<PoisonedMessage>();
        long remaining = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            messages.Add(Read(reader));
            remaining = reader.GetInt64(7);
        }

        return (messages, remaining);
    }

    /// <summary>
    /// Sends row <paramref name="id"/> back to the outbox (with a new id, behind what waits there),
    /// if it now reads as a message; otherwise leaves it and says why. Null when there is no such row.
    /// </summary>
    public async Task<PoisonedRedelivery?> RedeliverAsync(long id, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        PoisonedMessage message;
        await using (var select = new NpgsqlCommand(LockSql, connection))
        {
            select.Parameters.AddWithValue("id", id);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            message = Read(reader);
        }

        if (!Outbox.TryRead(message.MessageType, message.Body.GetRawText(), message.Destination, out _, out var error))
        {
            return new PoisonedRedelivery(message, null, error);
        }

        long outboxId;
        await using (var requeue = new NpgsqlCommand(RequeueSql, connection))
        {
            requeue.Parameters.AddWithValue("id", id);
            outboxId = (long)(await requeue.ExecuteScalarAsync(cancellationToken))!;
        }

        await Outbox.NotifyAsync(connection, cancellationToken);

        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("{Actor} redelivered poisoned outbox message {PoisonedId} ({MessageType}) as outbox message {OutboxId}",
            actor, id, message.MessageType, outboxId);
        return new PoisonedRedelivery(message, outboxId, null);
    }

    private static PoisonedMessage Read(NpgsqlDataReader reader)
    {
        using var body = JsonDocument.Parse(reader.GetString(2));
        return new PoisonedMessage(reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(3) ? null : reader.GetString(3),
            body.RootElement.Clone(), reader.GetFieldValue<DateTimeOffset>(4), reader.GetFieldValue<DateTimeOffset>(5), reader.GetString(6));
    }
}

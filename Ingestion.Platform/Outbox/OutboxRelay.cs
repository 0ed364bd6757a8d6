using System.Diagnostics;
using Ingestion.Platform.Hosting;
using MassTransit;
using Ingestion.Platform.Database;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingestion.Platform.Outbox;

/// <summary>
/// Sends or publishes what <see cref="Outbox"/> recorded, oldest first, and deletes each batch once
/// the broker has it. Woken by NOTIFY on commit, and polls as a fallback. Rows are claimed
/// with SKIP LOCKED, so every host may run a relay. A crash between publish and delete
/// publishes a batch twice, which consumers tolerate: they are idempotent by job state.
/// While RabbitMQ is down the rows simply wait. A row that can never become a message is
/// set aside (<see cref="PoisonedMessages"/>) in the same transaction, logged and counted
/// once it commits, and the rest of the batch goes on. A command RabbitMQ returns as unroutable (sends
/// are mandatory) stays, to be tried again with a growing pause, without holding up the rows behind it.
/// </summary>
internal sealed class OutboxRelay(NpgsqlDataSource dataSource, IBus bus, ILogger<OutboxRelay> logger)
    : NotifiedLoop(dataSource, Outbox.Channel, logger)
{
    private const int BatchSize = 100;
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(10);

    private const string ClaimSql = """
        select id, message_type, body::text, destination, trace_parent from ingestion.outbox
        where not_before is null or not_before <= now()
        order by id limit @limit for update skip locked
        """;

    private const string DeleteSql = "delete from ingestion.outbox where id = any(@ids)";

    /// <summary>Tried again after 2, 4, 8… seconds, at most a minute apart, until a queue is there to take it.</summary>
    private const string ReturnedSql = """
        update ingestion.outbox set returned = returned + 1,
            not_before = now() + least(interval '1 second' * power(2, least(returned + 1, 6)), interval '60 seconds')
        where id = any(@ids)
        """;

    protected override async Task<TimeSpan> RunAsync(CancellationToken cancellationToken)
    {
        while (await RelayBatchAsync(cancellationToken) == BatchSize)
        {
        }

        return PollInterval;
    }

    protected override bool IsTransient(Exception failure) =>
        failure is NpgsqlException or RequestTimeoutException or OperationCanceledException or MassTransitException;

    private async Task<int> RelayBatchAsync(CancellationToken cancellationToken)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var rows = new List<(long Id, string Type, string Body, string? Destination, string? TraceParent)>();
        await using (var claim = new NpgsqlCommand(ClaimSql, connection, transaction))
        {
            claim.Parameters.AddWithValue("limit", BatchSize);
            await using var reader = await claim.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add((reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4)));
            }
        }

        // A row that can never become a message must not stop the rows behind it, nor every host.
        var claimed = new List<(long Id, OutboxMessage Read, string? TraceParent)>();
        var poisoned = new List<(long Id, string Type, string Error)>();
        foreach (var row in rows)
        {
            if (Outbox.TryRead(row.Type, row.Body, row.Destination, out var read, out var error))
            {
                claimed.Add((row.Id, read, row.TraceParent));
            }
            else
            {
                await PoisonedMessages.SetAsideAsync(connection, row.Id, error, cancellationToken);
                poisoned.Add((row.Id, row.Type, error));
            }
        }

        if (rows.Count == 0)
        {
            return 0;
        }

        var returned = new List<(long Id, string Type, string Reason)>();
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(PublishTimeout);
            foreach (var (id, (message, type, destination), traceParent) in claimed)
            {
                // MassTransit's send activity becomes a child of the request that wrote the message.
                using var activity = ActivityContext.TryParse(traceParent, null, out var parent)
                    ? Telemetry.Source.StartActivity("outbox relay", ActivityKind.Internal, parent)
                    : null;
                if (destination is null)
                {
                    await bus.Publish(message, type, timeout.Token);
                }
                else
                {
                    try
                    {
                        var endpoint = await bus.GetSendEndpoint(destination);
                        await endpoint.Send(message, type, timeout.Token);
                    }
                    catch (MessageReturnedException e)
                    {
                        // No queue is bound to its exchange yet (no worker of its kind has started): the
                        // command waits here, and the rows behind it do not wait for it.
                        returned.Add((id, type.Name, e.Message));
                    }
                }
            }
        }

        if (returned.Count > 0)
        {
            await using var later = new NpgsqlCommand(ReturnedSql, connection, transaction);
            later.Parameters.AddWithValue("ids", returned.Select(r => r.Id).ToArray());
            await later.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var delete = new NpgsqlCommand(DeleteSql, connection, transaction))
        {
            delete.Parameters.AddWithValue("ids", claimed.Select(c => c.Id).Except(returned.Select(r => r.Id)).ToArray());
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        foreach (var (id, type, error) in poisoned)
        {
            logger.LogError("Outbox message {OutboxId} ({MessageType}) set aside in ingestion.outbox_poisoned, the relay goes on: {Error}",
                id, type, error);
        }

        foreach (var (id, type, reason) in returned)
        {
            logger.LogWarning("Outbox message {OutboxId} ({MessageType}) was returned by RabbitMQ and waits to be sent again: {Reason}",
                id, type, reason);
        }

        Telemetry.OutboxPoisoned.Inc(poisoned.Count);
        logger.LogDebug("Relayed {Count} outbox messages", claimed.Count);
        return rows.Count;
    }
}

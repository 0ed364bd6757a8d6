using System.Diagnostics;
using System.Text.Json;
using Ingestion.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Platform.Outbox;

/// <summary>
/// Records messages in PostgreSQL inside the caller's transaction. They reach RabbitMQ
/// through <see cref="OutboxRelay"/> once the transaction commits, and never if it rolls
/// back: the state and the messages announcing it are one atomic write.
/// </summary>
public static class Outbox
{
    public const string Channel = "ingestion_outbox";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private const string InsertSql = """
        insert into ingestion.outbox (message_type, body, destination, trace_parent) values (@type, @body, @destination, @trace)
        """;

    /// <param name="destination">The queue a command is sent to; null publishes an event.</param>
    public static async Task AddAsync<T>(NpgsqlConnection connection, T message, Uri? destination, CancellationToken cancellationToken)
        where T : class
    {
        await using var insert = new NpgsqlCommand(InsertSql, connection);
        insert.Parameters.AddWithValue("type", typeof(T).FullName!);
        insert.Parameters.AddWithValue("destination", (object?)destination?.ToString() ?? DBNull.Value);
        insert.Parameters.AddWithValue("body", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(message, Json));

        // The request's trace, so the relay sends the message as part of it, however much later.
        insert.Parameters.AddWithValue("trace", (object?)Activity.Current?.Id ?? DBNull.Value);
        await insert.ExecuteNonQueryAsync(cancellationToken);

        // Delivered at commit, so the relay wakes up exactly when there is something to send.
        await using var notify = new NpgsqlCommand($"notify {Channel}", connection);
        await notify.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Only message contracts travel through the outbox.</summary>
    internal static Type ResolveType(string name) =>
        typeof(IJobMessage).Assembly.GetType(name, throwOnError: false)
        ?? throw new InvalidOperationException($"Outbox message type '{name}' is not a contract in Ingestion.Contracts.");
}

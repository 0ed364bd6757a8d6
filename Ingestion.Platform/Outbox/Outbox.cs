using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
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
        insert into ingestion.outbox (message_type, body, destination, trace_parent, not_before)
        values (@type, @body, @destination, @trace, @not_before)
        """;

    /// <param name="destination">The queue a command is sent to; null publishes an event.</param>
    /// <param name="notBefore">When the relay may send it; at once when null (a job that waits for an upstream's budget gives a time).</param>
    public static async Task AddAsync<T>(NpgsqlConnection connection, T message, Uri? destination, CancellationToken cancellationToken,
        DateTimeOffset? notBefore = null)
        where T : class
    {
        await using var insert = new NpgsqlCommand(InsertSql, connection);
        insert.Parameters.AddWithValue("type", typeof(T).FullName!);
        insert.Parameters.AddWithValue("destination", (object?)destination?.ToString() ?? DBNull.Value);
        insert.Parameters.AddWithValue("body", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(message, Json));

        // The request's trace, so the relay sends the message as part of it, however much later.
        insert.Parameters.AddWithValue("trace", (object?)Activity.Current?.Id ?? DBNull.Value);
        insert.Parameters.AddWithValue("not_before", NpgsqlDbType.TimestampTz, (object?)notBefore ?? DBNull.Value);
        await insert.ExecuteNonQueryAsync(cancellationToken);

        await NotifyAsync(connection, cancellationToken);
    }

    /// <summary>Delivered at commit, so the relays wake up exactly when there is something to send.</summary>
    internal static async Task NotifyAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var notify = new NpgsqlCommand($"notify {Channel}", connection);
        await notify.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The message a row holds, or why it can never hold one: a type that is no contract in
    /// Ingestion.Contracts (only contracts travel through the outbox), a body that does not
    /// deserialize into it, a destination that is not an address. Sending such a row again
    /// cannot succeed, so the relay sets it aside (<see cref="PoisonedMessages"/>).
    /// </summary>
    public static bool TryRead(string type, string body, string? destination, [NotNullWhen(true)] out OutboxMessage? message,
        [NotNullWhen(false)] out string? error)
    {
        message = null;
        var contract = typeof(IJobMessage).Assembly.GetType(type, throwOnError: false);
        if (contract is null || !contract.IsClass || contract.IsAbstract)
        {
            error = $"Outbox message type '{type}' is not a contract in Ingestion.Contracts.";
            return false;
        }

        Uri? address = null;
        if (destination is not null
            && !(Uri.TryCreate(destination, UriKind.Absolute, out address) && address.Scheme is "queue" or "exchange" or "rabbitmq" or "rabbitmqs"))
        {
            error = $"Destination '{destination}' is not a broker address (queue:name).";
            return false;
        }

        // Rows written before queues became quorum queues say "queue:name". Sending there would
        // declare a classic queue, which RabbitMQ refuses for a quorum queue of that name, and the
        // refusal would hold up every row behind it: they go to the queue's exchange, as new rows do.
        if (address is { Scheme: "queue" })
        {
            address = Messaging.Queues.Address(address.AbsolutePath);
        }

        try
        {
            var value = JsonSerializer.Deserialize(body, contract, Json);
            error = value is null ? $"The body is null, not a {contract.Name}." : null;
            message = value is null ? null : new OutboxMessage(value, contract, address);
            return message is not null;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            error = $"The body is not a {contract.Name}: {e.Message}";
            return false;
        }
    }
}

/// <summary>An outbox row read back: what to send, as which type, and to which queue (null publishes).</summary>
public sealed record OutboxMessage(object Message, Type Type, Uri? Destination);

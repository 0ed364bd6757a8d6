using System.Globalization;
using System.Net.Http.Json;
using Ingestion.Platform.Messaging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Ingestion.Api.Ops;

/// <summary>An <c>_error</c> queue of the service's virtual host and the queue its messages came from.</summary>
public sealed record ErrorQueueInfo(string Queue, string OriginalQueue, long Messages);

/// <summary>
/// The <c>_error</c> queues MassTransit fills, read and emptied without losing a message.
/// Reading takes messages with <c>basic.get</c> unacknowledged and gives them all back
/// (<c>basic.nack</c>, requeue), so they keep their place; while a read is in progress its
/// messages are invisible to another read. Redelivery publishes a copy to the original queue
/// on a channel with publisher confirms and acknowledges the error queue's copy only after
/// the broker confirmed: a crash in between leaves the message in both queues (a duplicate,
/// which the job's checkpoint and state machine absorb), never in neither.
/// </summary>
public sealed class DeadLetterQueues(IOptions<RabbitMqOptions> options, IHttpClientFactory httpClients,
    ILogger<DeadLetterQueues> logger) : IAsyncDisposable
{
    public const string ManagementClient = "rabbitmq-management";
    public const string Suffix = "_error";

    private readonly SemaphoreSlim _connecting = new(1, 1);
    private IConnection? _connection;

    private sealed record QueueInfo(string Name);

    /// <summary>The virtual host's <c>_error</c> queues, by name, with the number of messages ready in each.</summary>
    public async Task<IReadOnlyList<ErrorQueueInfo>> ListAsync(CancellationToken cancellationToken)
    {
        var vhost = Uri.EscapeDataString(options.Value.VirtualHost);
        using var client = httpClients.CreateClient(ManagementClient);
        var queues = await client.GetFromJsonAsync<List<QueueInfo>>($"queues/{vhost}?columns=name", cancellationToken) ?? [];
        var names = queues.Select(q => q.Name).ToHashSet(StringComparer.Ordinal);
        var errors = new List<ErrorQueueInfo>();
        var connection = await ConnectionAsync(cancellationToken);
        foreach (var queue in queues.Where(q => q.Name.EndsWith(Suffix, StringComparison.Ordinal)).OrderBy(q => q.Name, StringComparer.Ordinal))
        {
            // The management API's counts lag by its statistics interval; the broker's own answer does not.
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var declared = await channel.QueueDeclarePassiveAsync(queue.Name, cancellationToken);
            var original = queue.Name[..^Suffix.Length];
            errors.Add(new ErrorQueueInfo(queue.Name, names.Contains(original) ? original : "", declared.MessageCount));
        }

        return errors;
    }

    /// <summary>
    /// Up to <paramref name="limit"/> messages after the first <paramref name="offset"/>, in queue
    /// order, and how many the queue holds. Every message read is put back.
    /// </summary>
    public async Task<(IReadOnlyList<DeadLetter> Messages, long Total)> PeekAsync(string queue, int offset, int limit,
        CancellationToken cancellationToken)
    {
        var connection = await ConnectionAsync(cancellationToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var letters = new List<DeadLetter>();
        long total = 0;
        ulong last = 0;
        for (var read = 0; read < offset + limit; read++)
        {
            var message = await channel.BasicGetAsync(queue, autoAck: false, cancellationToken);
            if (message is null)
            {
                break;
            }

            total = read == 0 ? message.MessageCount + 1L : total;
            last = message.DeliveryTag;
            if (read >= offset)
            {
                letters.Add(DeadLetter.From(message));
            }
        }

        if (last != 0)
        {
            await channel.BasicNackAsync(last, multiple: true, requeue: true, cancellationToken);
        }

        return (letters, total);
    }

    /// <summary>
    /// Sends the message <paramref name="messageId"/>, or every message the queue held when the
    /// call began (when null), back to <paramref name="queue"/>'s original queue; returns what
    /// was sent. Messages that fault again land behind those and are not read twice.
    /// </summary>
    public async Task<IReadOnlyList<DeadLetter>> RedeliverAsync(ErrorQueueInfo queue, string? messageId, string actor,
        CancellationToken cancellationToken)
    {
        var connection = await ConnectionAsync(cancellationToken);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        var moved = new List<DeadLetter>();
        ulong kept = 0;
        var message = await channel.BasicGetAsync(queue.Queue, autoAck: false, cancellationToken);
        var remaining = message is null ? 0 : message.MessageCount + 1L;
        while (message is not null && remaining-- > 0)
        {
            var letter = DeadLetter.From(message);
            if (messageId is null || letter.MessageId == messageId)
            {
                // Throws unless the broker confirms it routed the copy to the queue; the original then stays unacknowledged.
                await channel.BasicPublishAsync("", queue.OriginalQueue, mandatory: true, DeadLetter.ForRedelivery(message, actor),
                    message.Body.ToArray(), cancellationToken);
                await channel.BasicAckAsync(message.DeliveryTag, multiple: false, cancellationToken);
                moved.Add(letter);
                logger.LogInformation("{Actor} redelivered message {MessageId} ({MessageType}, job {JobId}) from {ErrorQueueInfo} to {Queue}",
                    actor, letter.MessageId, letter.MessageType, letter.JobId, queue.Queue, queue.OriginalQueue);
                if (messageId is not null)
                {
                    break;
                }
            }
            else
            {
                kept = message.DeliveryTag;
            }

            message = remaining > 0 ? await channel.BasicGetAsync(queue.Queue, autoAck: false, cancellationToken) : null;
        }

        if (kept != 0)
        {
            await channel.BasicNackAsync(kept, multiple: true, requeue: true, cancellationToken);
        }

        return moved;
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        _connecting.Dispose();
    }

    /// <summary>One connection for the API's operator requests, opened on first use and again after the broker dropped it.</summary>
    private async Task<IConnection> ConnectionAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsOpen: true } open)
        {
            return open;
        }

        await _connecting.WaitAsync(cancellationToken);
        try
        {
            if (_connection is { IsOpen: true } opened)
            {
                return opened;
            }

            if (_connection is not null)
            {
                await _connection.DisposeAsync();
            }

            var settings = options.Value;
            var factory = new ConnectionFactory
            {
                HostName = settings.Host,
                Port = settings.Port,
                VirtualHost = settings.VirtualHost,
                UserName = settings.Username,
                Password = settings.Password,
                ClientProvidedName = "ingestion-api dead letters",
            };
            // In a cluster, the first node of RabbitMq:Nodes that answers.
            var nodes = settings.Nodes.Select(node => node.Split(':'))
                .Select(parts => new AmqpTcpEndpoint(parts[0], parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : settings.Port))
                .ToList();
            _connection = nodes.Count > 0
                ? await factory.CreateConnectionAsync(nodes, cancellationToken)
                : await factory.CreateConnectionAsync(cancellationToken);
            return _connection;
        }
        finally
        {
            _connecting.Release();
        }
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using RabbitMQ.Client;

namespace Ingestion.Api.Ops;

/// <summary>
/// A message MassTransit moved to an <c>_error</c> queue, with what its <c>MT-Fault-*</c>
/// headers say about why, and the job it belongs to when its body names one.
/// </summary>
public sealed record DeadLetter(
    string MessageId,
    string? MessageType,
    Guid? JobId,
    string? ExceptionType,
    string? ExceptionMessage,
    string? ConsumerType,
    DateTimeOffset? FaultedAt,
    string? InputAddress,
    int? RedeliveredTimes)
{
    /// <summary>Headers MassTransit writes when it moves a message to the error queue.</summary>
    public const string FaultHeaderPrefix = "MT-Fault-";

    public const string ReasonHeader = "MT-Reason";

    /// <summary>Written on a redelivered message: how many times an operator has sent it back.</summary>
    public const string RedeliveredHeader = "Ingestion-Redelivered";

    public const string RedeliveredByHeader = "Ingestion-Redelivered-By";

    public static DeadLetter From(BasicGetResult message)
    {
        var headers = message.BasicProperties.Headers;
        var envelope = Envelope.Read(message.Body.Span);
        return new DeadLetter(
            message.BasicProperties.MessageId ?? envelope.MessageId ?? $"delivery-{message.DeliveryTag}",
            envelope.MessageType,
            envelope.JobId,
            Header(headers, "MT-Fault-ExceptionType"),
            Header(headers, "MT-Fault-Message"),
            Header(headers, "MT-Fault-ConsumerType"),
            DateTimeOffset.TryParse(Header(headers, "MT-Fault-Timestamp"), CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal, out var at) ? at : null,
            Header(headers, "MT-Fault-InputAddress"),
            int.TryParse(Header(headers, RedeliveredHeader), CultureInfo.InvariantCulture, out var times) ? times : null);
    }

    /// <summary>The message's properties for its way back: fault headers dropped, the redelivery marked.</summary>
    public static BasicProperties ForRedelivery(BasicGetResult message, string actor)
    {
        var properties = new BasicProperties(message.BasicProperties);
        var headers = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in message.BasicProperties.Headers ?? new Dictionary<string, object?>())
        {
            if (!name.StartsWith(FaultHeaderPrefix, StringComparison.Ordinal) && name != ReasonHeader
                && name != RedeliveredByHeader && name != RedeliveredHeader)
            {
                headers[name] = value;
            }
        }

        var times = int.TryParse(Header(message.BasicProperties.Headers, RedeliveredHeader), CultureInfo.InvariantCulture, out var n) ? n : 0;
        headers[RedeliveredHeader] = (times + 1).ToString(CultureInfo.InvariantCulture);
        headers[RedeliveredByHeader] = actor;
        properties.Headers = headers;
        return properties;
    }

    /// <summary>AMQP sends header strings as bytes.</summary>
    private static string? Header(IDictionary<string, object?>? headers, string name) =>
        headers is not null && headers.TryGetValue(name, out var value)
            ? value switch
            {
                null => null,
                byte[] bytes => Encoding.UTF8.GetString(bytes),
                IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString(),
            }
            : null;

    /// <summary>What a MassTransit JSON envelope says about its message; empty for a body that is not one.</summary>
    private readonly record struct Envelope(string? MessageId, string? MessageType, Guid? JobId)
    {
        public static Envelope Read(ReadOnlySpan<byte> body)
        {
            try
            {
                using var document = JsonDocument.Parse(body.ToArray());
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    return default;
                }

                var messageId = root.TryGetProperty("messageId", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
                var messageType = root.TryGetProperty("messageType", out var types) && types.ValueKind == JsonValueKind.Array
                    && types.GetArrayLength() > 0 ? types[0].GetString()?.Replace("urn:message:", "", StringComparison.Ordinal) : null;
                Guid? jobId = root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.Object
                    && message.TryGetProperty("jobId", out var job) && job.TryGetGuid(out var guid) ? guid : null;
                return new Envelope(messageId, messageType, jobId);
            }
            catch (JsonException)
            {
                // Not a MassTransit JSON envelope (another serializer, or a raw message): its headers still say enough.
                return default;
            }
        }
    }
}

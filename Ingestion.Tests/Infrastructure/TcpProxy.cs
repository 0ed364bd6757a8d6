using System.Net;
using System.Net.Sockets;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// A TCP relay between a host and one of the servers, that a test can cut to make the
/// server unreachable for that host alone (connection refused, open connections reset)
/// and then restore, while the server itself keeps running for everyone else.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly List<TcpClient> _open = [];
    private TcpListener? _listener;
    private CancellationTokenSource _cut = new();

    public TcpProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        Port = FreePorts.Next();
        Restore();
    }

    public int Port { get; }

    /// <summary>How long each answer of the server is held before it goes on to the client: a distant server.</summary>
    public TimeSpan AnswerDelay { get; init; }

    /// <summary>Refuses new connections and resets the open ones.</summary>
    public void Cut()
    {
        _listener?.Stop();
        _listener = null;
        _cut.Cancel();
        lock (_open)
        {
            foreach (var client in _open)
            {
                try
                {
                    // Linger 0: the peer sees a reset, as when a network path dies.
                    client.Client?.LingerState = new LingerOption(true, 0);
                }
                catch (Exception e) when (e is ObjectDisposedException or SocketException)
                {
                    // Already closing.
                }

                client.Dispose();
            }

            _open.Clear();
        }
    }

    public void Restore()
    {
        if (_listener is not null)
        {
            return;
        }

        _cut = new CancellationTokenSource();
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Start();
        _ = AcceptAsync(_listener, _cut.Token);
    }

    public ValueTask DisposeAsync()
    {
        Cut();
        return ValueTask.CompletedTask;
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken cut)
    {
        while (!cut.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await listener.AcceptTcpClientAsync(cut);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = RelayAsync(inbound, cut);
        }
    }

    private async Task RelayAsync(TcpClient inbound, CancellationToken cut)
    {
        var outbound = new TcpClient();
        lock (_open)
        {
            _open.Add(inbound);
            _open.Add(outbound);
        }

        try
        {
            await outbound.ConnectAsync(_targetHost, _targetPort, cut);
            var up = inbound.GetStream().CopyToAsync(outbound.GetStream(), cut);
            var down = AnswerDelay > TimeSpan.Zero
                ? CopyLateAsync(outbound.GetStream(), inbound.GetStream(), cut)
                : outbound.GetStream().CopyToAsync(inbound.GetStream(), cut);
            await Task.WhenAny(up, down);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The connection ends, as connections do when a network is cut.
        }
        finally
        {
            inbound.Dispose();
            outbound.Dispose();
            lock (_open)
            {
                _open.Remove(inbound);
                _open.Remove(outbound);
            }
        }
    }

    private async Task CopyLateAsync(Stream from, Stream to, CancellationToken cut)
    {
        var buffer = new byte[81_920];
        int read;
        while ((read = await from.ReadAsync(buffer, cut)) > 0)
        {
            await Task.Delay(AnswerDelay, cut);
            await to.WriteAsync(buffer.AsMemory(0, read), cut);
        }
    }
}

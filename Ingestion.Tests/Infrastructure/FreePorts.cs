using System.Net;
using System.Net.Sockets;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// Loopback ports for whatever a test starts that must be told its port before it listens (a host, a relay, a receiver).
/// The kernel names a free one when a socket binds port 0, and may name the same one again once that socket is closed:
/// CI once gave a worker the API's management port, the worker could not bind it and exited, and its readiness probe
/// was answered by the API. So a port is handed out at most once in a run.
/// </summary>
public static class FreePorts
{
    private static readonly HashSet<int> Handed = [];

    public static int Next()
    {
        lock (Handed)
        {
            while (true)
            {
                using var probe = new TcpListener(IPAddress.Loopback, 0);
                probe.Start();
                var port = ((IPEndPoint)probe.LocalEndpoint).Port;
                if (Handed.Add(port))
                {
                    return port;
                }
            }
        }
    }
}

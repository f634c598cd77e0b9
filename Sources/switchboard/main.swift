import Foundation
import SwitchboardCLI

exit(await Switchboard.main())
